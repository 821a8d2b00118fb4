"""`harness serve`: an OpenAI-compatible HTTP server for a base model and its LoRA variants.

Two engines behind one command: vLLM's own OpenAI server (`vllm_exec`) when vLLM is installed, and
a transformers server (`app` + `engine`) otherwise. The transformers server is built to give the very
numbers `HFBackend` gives, so a client that scores over HTTP gets what `--backend hf` gets.

Modules: `options` (which models to serve, the key, the address checks), `engine` (the model, one
forward at a time), `rows` (one generation step by step), `detok` (text of a growing token sequence), `protocol` (request models, errors,
logprob layouts), `streams` (whole and streamed responses), `guard` (API key and body limit),
`app` (the FastAPI routes), `server` (uvicorn with graceful shutdown), `vllm_exec` (the vLLM
command line). Importing this package imports neither torch nor FastAPI.
"""
