"""`harness sweep`: models × suites × shards on one process or a Ray cluster, merged into one run
folder per (model, suite) equal to what a single `harness run` writes.

plan.py (shards balanced by prompt tokens) → worker.py (a shard is a run of the one run loop; a merge
resumes the whole run from the shards' records) → launch.py (scheduling, retries; LocalPool) and
ray_pool.py (Ray actors or tasks) → progress.py (live view, summary) → run.py (the command's steps).
Ray is imported only by ray_pool.py.
"""
