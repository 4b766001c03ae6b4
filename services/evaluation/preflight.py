"""What `mis eval run` checks before it generates anything, and the eval
config file.

An evaluation can run for hours; a typo found at the end of it costs them.
So the data is read, the judge asked (backend exists, service reachable) and
the candidate endpoint reached before the first answer is requested.

The config file is YAML with the run's long option names as keys (dashes or
underscores), so `mis eval run --config eval.yaml` is the same as the flags,
as lmms-eval's `--config` works; flags given on the command line win.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import yaml


class PreflightError(ValueError):
    """Something the run needs is wrong or missing; the message names the option."""


def load_eval_config(path: Path, known: dict[str, object]) -> dict[str, object]:
    """Option values from the YAML file at `path`, by argparse destination.

    `known` maps each destination to its default, which gives the expected type:
    a list option takes a list (or one string), a path option a string."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PreflightError(f"--config {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PreflightError(f"--config {path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PreflightError(f"--config {path}: expected a mapping of option names to values")
    values: dict[str, object] = {}
    aliases = {"split": "splits", "judge_backend": "judge_backends"}
    for raw, value in data.items():
        dest = str(raw).replace("-", "_")
        dest = aliases.get(dest, dest)
        if dest not in known or dest in ("config", "handler", "command", "eval_command"):
            raise PreflightError(f"--config {path}: {raw}: not an option of mis eval run "
                                 f"(known: {', '.join(sorted(k for k in known if k != 'handler'))})")
        if dest in ("splits", "judge_backends") and isinstance(value, str):
            value = [value]
        values[dest] = value
    return values


def check_endpoint(base_url: str, timeout_seconds: float = 5.0) -> None:
    """Reach the candidate's OpenAI-compatible server (`GET /models`); any HTTP
    answer, even 401, shows it is there."""
    url = base_url.rstrip("/") + "/models"
    if not url.startswith(("http://", "https://")):
        raise PreflightError(f"--model-url {base_url!r}: expected http:// or https://")
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PreflightError(f"--model-url {base_url}: not reachable ({reason}); is the model "
                             f"server running?") from None


def error_share(progress_errors: int, judged: int) -> float:
    total = progress_errors + judged
    return progress_errors / total if total else 1.0
