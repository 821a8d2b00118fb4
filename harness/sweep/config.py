"""What a user asks of a sweep: models × suites, how to shard them, where to run, and the run options
every shard shares. Built from flags or from a YAML sweep file (flags win over the file)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.runner.config import RunConfig

LAUNCHERS = ("local", "ray")
MODES = ("actor", "task")
# RunConfig fields a sweep passes to every shard unchanged (the same for every model and suite)
RUN_FIELDS = ("method", "backend", "device", "dtype", "batch_size", "chat_template", "revision", "prefix_cache",
              "backend_options", "max_new_tokens", "samples", "temperature", "top_p", "seed", "cot", "code_timeout")
# options that may differ per suite
SUITE_FIELDS = ("subjects", "data_dir", "limit", "split", "shots")


@dataclass
class SuiteOptions:
    """One suite of the sweep and the options of its runs."""

    name: str
    subjects: list[str] | None = None
    data_dir: Path | None = None
    limit: int | None = None
    split: str | None = None
    shots: int | None = None

    @property
    def folder(self) -> str:
        return Path(self.name).stem

    def as_dict(self) -> dict[str, Any]:
        return {f: (str(v) if isinstance(v, Path) else v) for f in SUITE_FIELDS if (v := getattr(self, f)) is not None}


@dataclass
class SweepConfig:
    models: list[str]
    suites: list[SuiteOptions]
    output: Path
    shards_per_suite: int | None = None  # default: one per worker slot
    launcher: str = "local"
    mode: str = "actor"  # ray: an actor per model replica (model kept loaded) or a task per shard
    address: str | None = None
    gpus_per_shard: float | None = None  # default: 1 on a Ray cluster with GPUs, else 0
    cpus_per_shard: float = 1
    workers: int | None = None  # most shards at once (default: what the cluster's resources allow)
    retries: int = 2
    overwrite: bool = False
    progress: bool = True
    run: dict[str, Any] = field(default_factory=dict)

    def run_config(self, model: str, suite: SuiteOptions, output: Path, subjects: list[str] | None) -> RunConfig:
        """The RunConfig of one shard (`subjects`) or of the whole suite (`subjects=None`: the suite's own)."""
        chosen = suite.subjects if subjects is None else subjects
        options = dict(self.run)
        if (self.gpus_per_shard or 0) > 1:
            options["backend_options"] = {**options.get("backend_options", {}),
                                          "tensor_parallel_size": int(self.gpus_per_shard)}
        return RunConfig(suite=suite.name, model=model, output=output, subjects=list(chosen) if chosen else None,
                         data_dir=suite.data_dir, limit=suite.limit, split=suite.split, shots=suite.shots, **options)

    def check(self) -> None:
        if not self.models:
            raise UserError("a sweep needs --models (or `models:` in the sweep file)")
        if not self.suites:
            raise UserError("a sweep needs --suites (or `suites:` in the sweep file)")
        if len(set(self.models)) != len(self.models):
            raise UserError("a model is listed twice in the sweep")
        if len({s.folder for s in self.suites}) != len(self.suites):
            raise UserError("a suite is listed twice in the sweep")
        if self.launcher not in LAUNCHERS:
            raise UserError(f"unknown launcher '{self.launcher}' (choose from {', '.join(LAUNCHERS)})")
        if self.mode not in MODES:
            raise UserError(f"unknown Ray mode '{self.mode}' (choose from {', '.join(MODES)})")
        if self.shards_per_suite is not None and self.shards_per_suite < 1:
            raise UserError("--shards-per-suite must be 1 or more")
        if self.retries < 0:
            raise UserError("--retries must be 0 or more")
        if self.workers is not None and self.workers < 1:
            raise UserError("--workers must be 1 or more")
        if (self.gpus_per_shard or 0) < 0 or self.cpus_per_shard <= 0:
            raise UserError("--gpus-per-shard must be 0 or more and --cpus-per-shard above 0")
        if (self.gpus_per_shard or 0) > 1 and self.run.get("backend", "hf") != "vllm":
            raise UserError("--gpus-per-shard above 1 needs --backend vllm (tensor parallel inside a shard)")
        if self.address and self.launcher != "ray":
            raise UserError("--address applies to --launcher ray only")


def model_folder(model: str) -> str:
    """A model's folder name in the sweep output (as `harness run` names its default output)."""
    name = model.rstrip("/").split("/")[-1] if Path(model).expanduser().is_dir() else model
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name) or "model"


def parse_suite_value(text: str, suites: list[str], flag: str) -> dict[str, str]:
    """`VALUE` (every suite) or `SUITE=VALUE` (one suite), the form of per-suite flags."""
    name, sep, value = text.partition("=")
    if sep and name in suites:
        return {name: value}
    if sep and "/" not in name and not Path(name).exists():
        raise UserError(f"{flag} {text}: '{name}' is not one of the sweep's suites ({', '.join(suites)})")
    return dict.fromkeys(suites, text)


def suites_from_file(raw: Any, where: str) -> list[SuiteOptions]:
    """`suites:` of a sweep file: a list of names, or a mapping name → options (or a list of such)."""
    items: list[tuple[str, dict[str, Any]]] = []
    entries = raw.items() if isinstance(raw, dict) else (raw or [])
    for entry in entries:
        if isinstance(entry, tuple):
            name, options = entry
        elif isinstance(entry, str):
            name, options = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            name, options = next(iter(entry.items()))
        else:
            raise UserError(f"{where}: each suite is a name or 'name: {{options}}'")
        options = dict(options or {})
        unknown = set(options) - set(SUITE_FIELDS)
        if unknown:
            raise UserError(f"{where}: suite {name}: unknown option {sorted(unknown)[0]} (known: {', '.join(SUITE_FIELDS)})")
        if isinstance(options.get("subjects"), str):
            options["subjects"] = [s.strip() for s in options["subjects"].split(",") if s.strip()]
        if options.get("data_dir") is not None:
            options["data_dir"] = Path(str(options["data_dir"])).expanduser()
        items.append((str(name), options))
    return [SuiteOptions(name, **options) for name, options in items]


FILE_KEYS = {f.name for f in fields(SweepConfig)} | {"gpus", "cpus"}


def load_sweep_file(path: Path) -> dict[str, Any]:
    """A YAML sweep file as SweepConfig fields (suites parsed; run options checked against RunConfig)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a sweep file is a mapping (models:, suites:, output: …)")
    unknown = set(raw) - FILE_KEYS
    if unknown:
        raise UserError(f"{path}: unknown key '{sorted(unknown)[0]}' (known: {', '.join(sorted(FILE_KEYS))})")
    out = dict(raw)
    if isinstance(out.get("models"), str):
        out["models"] = [m.strip() for m in out["models"].split(",") if m.strip()]
    if "suites" in out:
        out["suites"] = suites_from_file(out["suites"], str(path))
    if "output" in out:
        out["output"] = (path.parent / Path(str(out["output"])).expanduser()).resolve()
    for suite in out.get("suites", []):
        if suite.data_dir is not None and not suite.data_dir.is_absolute():
            suite.data_dir = (path.parent / suite.data_dir).resolve()
    if "gpus" in out:
        out["gpus_per_shard"] = out.pop("gpus")
    if "cpus" in out:
        out["cpus_per_shard"] = out.pop("cpus")
    run = out.get("run") or {}
    if not isinstance(run, dict) or set(run) - set(RUN_FIELDS):
        bad = sorted(set(run) - set(RUN_FIELDS)) if isinstance(run, dict) else ["(not a mapping)"]
        raise UserError(f"{path}: run: unknown option {bad[0]} (known: {', '.join(RUN_FIELDS)})")
    out["run"] = run
    return out
