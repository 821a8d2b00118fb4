"""LoRA fine-tuning: training data (alpaca / sharegpt), YAML recipes, the training loop, merging."""
