"""The pieces of the OpenAI-compatible backend (`harness/backends/openai_api.py`).

- `client`: one HTTP client per run — the key from the environment only, a concurrency limit that
  shrinks on 429 and grows back, retries with jittered exponential backoff, one-line errors.
- `cache`: every finished response, fsynced in the run folder before its record is written, so an
  interrupted run (even kill -9) sends no finished request again.
- `wire`: the request bodies and the parsing of responses (letters from top log-probs, texts, echoed
  prompt tokens), with a malformed response told apart from a server's refusal.
"""
