"""Pushing a finished run to the Hub: the adapter, the merged model, or the full model.

The card comes from ``card.py``. The token comes from HF_TOKEN or the stored login; it is never
printed, logged or written.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hf_transfer.artifacts.card import build_card
from hf_transfer.artifacts.runs import CARD_FILE, TRAIN_LOG, RunFolder
from hf_transfer.base.errors import UserError, first_line
from hf_transfer.methods import check_mergeable, mergeable_names


def local_only(name: str) -> bool:
    """Files a push leaves out: the card (uploaded as rendered for the repository), train.log (local paths),
    and the predictions / evaluations of the user's own files (their data)."""
    return name in (CARD_FILE, TRAIN_LOG) or (name.startswith(("predictions-", "eval-")) and "." in name)


# --------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--hub_model_id {repo_id!r} is not a valid repository id: {exc}") from None
    if repo_id.count("/") > 1:
        raise UserError(f"--hub_model_id {repo_id!r} is not a valid repository id: use 'name' or 'namespace/name'.")


def check_push_ready(repo_id: str) -> None:
    """Before a run that will push: the repository id is valid and a token is set (nothing trains otherwise)."""
    from huggingface_hub import get_token

    check_repo_id(repo_id)
    if not get_token():
        raise UserError(
            "--push_to_hub needs a Hugging Face token, and none is set: set HF_TOKEN or run `hf auth login` "
            "before training (nothing was trained)."
        )


def _explain(exc: Exception, repo_id: str, endpoint: str) -> UserError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return UserError(
            f"The Hub at {endpoint} refused the push to {repo_id} ({status} "
            f"{'unauthorized' if status == 401 else 'forbidden'}). "
            "Check that HF_TOKEN (or `hf auth login`) holds a token with write access to that namespace."
        )
    if status is not None and status >= 500:
        return UserError(
            f"The Hub at {endpoint} kept failing ({status}) while pushing {repo_id}; nothing was changed here. Try "
            "again later."
        )
    return UserError(f"Pushing {repo_id} to {endpoint} failed: {type(exc).__name__}: {first_line(exc)}")


EXPORT_FOLDER = "onnx"
"""Where ``push --export`` puts an ONNX export of the run in the repository (a GGUF export: ``gguf/``, its format)."""


def check_export(export_dir: Path, run_dir: Path) -> Path:
    """An export to push beside its run: finished, undamaged, and made from this run."""
    from hf_transfer.artifacts.onnx_model import read_record

    folder = RunFolder(export_dir)
    if not folder.is_export:
        raise UserError(f"--export {folder.path} is not an export folder (no export.json): make one with "
                        f"hf-transfer export {run_dir}.")  # fmt: skip
    record = read_record(folder.path)
    if Path(record.get("source_run", "")) != Path(run_dir).resolve():
        raise UserError(f"--export {folder.path} was made from {record.get('source_run')}, not from {run_dir}: "
                        "push an export with the run it was made from.")  # fmt: skip
    return folder.path


def _export_operations(export_dir: Path, repo_id: str) -> list:
    """The export's files under ``onnx/`` (``gguf/`` for a GGUF export), its own README included; export.json names
    the repository, not the run's local folder."""
    import json

    from huggingface_hub import CommitOperationAdd

    from hf_transfer.artifacts.runs import EXPORT_FILE

    folder = json.loads((export_dir / EXPORT_FILE).read_text()).get("format", EXPORT_FOLDER)
    operations = []
    for path in sorted(p for p in export_dir.rglob("*") if p.is_file()):
        name = path.relative_to(export_dir).as_posix()
        if path.name == EXPORT_FILE:
            record = {**json.loads(path.read_text()), "source_run": repo_id}
            content: bytes | str = (json.dumps(record, indent=2) + "\n").encode()
        elif local_only(path.name) and path.name != CARD_FILE:
            continue
        else:
            content = str(path)
        operations.append(CommitOperationAdd(path_in_repo=f"{folder}/{name}", path_or_fileobj=content))
    return operations


def push(
    run_dir: Path,
    repo_id: str,
    private: bool = False,
    merge: bool = False,
    log=print,
    trust_remote_code: bool = False,
    export_dir: Path | None = None,
) -> str:
    """Upload a finished run folder (or, with ``merge``, its merged model), and with ``export_dir`` its verified
    export under ``onnx/``. Returns the repository URL."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    from hf_transfer.artifacts.merging import merge_run

    run_dir = Path(run_dir).expanduser().resolve()
    check_repo_id(repo_id)
    RunFolder(run_dir).require_finished("nothing to push.")
    RunFolder(run_dir).refuse_export(
        "push the run it was made from, with the export beside it: hf-transfer push RUN "
        "--hub_model_id ID --export EXPORT_DIR"
    )
    if merge and not RunFolder(run_dir).has_adapter:
        raise UserError(
            f"--merge applies to adapter runs ({', '.join(mergeable_names())}); this run holds a full model already."
        )
    if merge:
        check_mergeable(RunFolder(run_dir).recipe().method, str(run_dir))
    if export_dir is not None:
        export_dir = check_export(Path(export_dir).expanduser(), run_dir)
    api = HfApi()
    if not get_token():
        raise UserError(
            "No Hugging Face token: set HF_TOKEN, or run `hf auth login` (in a notebook: `notebook_login()`)."
        )
    with tempfile.TemporaryDirectory() as scratch:
        folder = run_dir
        try:
            if "/" not in repo_id:
                repo_id = f"{api.whoami()['name']}/{repo_id}"
            if merge:
                folder = merge_run(run_dir, Path(scratch) / "merged", trust_remote_code=trust_remote_code)
            # the uploaded card names the repository; the run folder's own files stay as they are
            card = build_card(folder, repo_id)
            try:
                card.validate(
                    repo_type="model"
                )  # the Hub checks the metadata (model-index) before anything is uploaded
            except ValueError as exc:
                raise UserError(f"The Hub rejected the model card metadata: {exc}") from None
            card = str(card).encode()
            files = sorted(p for p in folder.rglob("*") if p.is_file() and not local_only(p.name))
            operations = [CommitOperationAdd(path_in_repo=CARD_FILE, path_or_fileobj=card)]
            operations += [
                CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files
            ]
            if export_dir is not None:
                operations += _export_operations(export_dir, repo_id)
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            log(f"[hf-transfer] uploading {len(operations)} files to {repo_id} ({'private' if private else 'public'})")
            api.create_commit(
                repo_id=repo_id, operations=operations, commit_message=f"hf-transfer: {RunFolder(folder).recipe_name()}"
            )
        except UserError:
            raise
        except Exception as exc:  # network and HTTP errors from huggingface_hub
            raise _explain(exc, repo_id, api.endpoint) from None
        finally:
            if folder != run_dir:
                shutil.rmtree(folder, ignore_errors=True)
    return str(url)
