"""A small stand-in for the Hugging Face Hub's HTTP API, on 127.0.0.1.

For the push tests it speaks the part of the API that huggingface_hub uses to create a repository,
ask the upload mode (always "regular": file contents travel base64-encoded in the commit), commit,
validate card YAML, describe a repository and download files.

For the recipe tests it also *serves* model and dataset repositories, so that
``transformers.from_pretrained`` and ``datasets.load_dataset`` work against it through
``HF_ENDPOINT``: repository info per revision (``/api/{models,datasets}/ID/revision/REV``), tree and
paths-info listings (what ``HfFileSystem`` asks), and ``resolve`` with ETag, size and commit headers,
for several revisions per repository (``main`` and the Hub's parquet export ``refs/convert/parquet``)
addressed by name or by commit sha. The error answers copy the real Hub's: ``X-Error-Code``
RepoNotFound (401 without a token, as the Hub answers for a missing repository), RevisionNotFound,
EntryNotFound and GatedRepo. Repositories live in memory. ``fail`` makes the next requests answer
with a given status, to test error handling.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import yaml


def _sha(files: dict[str, bytes]) -> str:
    return hashlib.sha1(repr(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in files.items())).encode()).hexdigest()


class ServedRepo:
    """A model or dataset repository with named revisions (branches / refs), each a set of files."""

    def __init__(self, revisions: dict[str, dict[str, bytes]], gated: bool = False, card_data: dict | None = None):
        self.revisions = revisions
        self.gated = gated
        self.card_data = card_data or {}

    def find(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        """(commit sha, files) of a revision given by name or by commit sha."""
        for name, files in self.revisions.items():
            sha = _sha(files)
            if revision in (name, sha):
                return sha, files
        return None


class FakeHub:
    def __init__(self, token: str = "hf_fake_test_token_1234567890"):
        self.token = token
        self.served: dict[tuple[str, str], ServedRepo] = {}  # ("model" | "dataset", repo_id) -> repo
        self.repos: dict[str, dict] = {}  # repo_id -> {"private": bool, "files": {path: bytes}, "sha": str}
        self.requests: list[tuple[str, str]] = []
        self.failures: list[int] = []  # statuses to answer, one per request, before serving normally
        self.validated: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body=b"", content_type="application/json", headers=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {hub.token}"

            def _route(self):
                raw = urlparse(self.path).path
                path = unquote(raw)
                hub.requests.append((self.command, path))
                body = self._body() if self.command in ("POST", "PUT") else b""
                if hub.failures:
                    status = hub.failures.pop(0)
                    return self._send(status, {"error": f"injected failure {status}"})
                if self._serve(raw, body):
                    return
                if path == "/api/whoami-v2":
                    return (
                        self._send(200, {"name": "tester", "type": "user"})
                        if self._authorized()
                        else self._send(401, {"error": "Invalid token"})
                    )
                if path == "/api/validate-yaml" and self.command == "POST":
                    return self._validate_yaml(json.loads(body))
                if path == "/api/repos/create" and self.command == "POST":
                    if not self._authorized():
                        return self._send(401, {"error": "Invalid token"})
                    spec = json.loads(body)
                    repo_id = f"{spec.get('organization') or 'tester'}/{spec['name']}"
                    existed = repo_id in hub.repos
                    private = bool(spec.get("private")) or spec.get("visibility") == "private"
                    hub.repos.setdefault(repo_id, {"private": private, "files": {}, "sha": "0" * 40})
                    if existed:
                        return self._send(
                            409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"}
                        )
                    return self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/([^/]+)", path)
                if match and self.command == "POST":
                    files = json.loads(body)["files"]
                    return self._send(
                        200,
                        {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]},
                    )
                match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/([^/]+)", path)
                if match and self.command == "POST":
                    return self._commit(match.group(1), body)
                match = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)", path)
                if match and self.command == "GET":
                    repo = hub.repos.get(match.group(1))
                    if repo is None:
                        return self._send(
                            404, {"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"}
                        )
                    return self._send(
                        200,
                        [
                            {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                            for name, data in sorted(repo["files"].items())
                        ],
                    )
                match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
                if match and self.command == "GET":
                    repo = hub.repos.get(match.group(1))
                    if repo is None:
                        return self._send(
                            404, {"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"}
                        )
                    return self._send(
                        200,
                        {
                            "id": match.group(1),
                            "modelId": match.group(1),
                            "sha": repo["sha"],
                            "private": repo["private"],
                            "siblings": [{"rfilename": name} for name in sorted(repo["files"])],
                        },
                    )
                match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if match and self.command in ("GET", "HEAD"):
                    repo = hub.repos.get(match.group(1))
                    data = repo["files"].get(match.group(3)) if repo else None
                    if data is None:
                        return self._send(404, {"error": "Entry not found"}, headers={"X-Error-Code": "EntryNotFound"})
                    etag = hashlib.sha1(data).hexdigest()
                    return self._send(
                        200, data, "application/octet-stream", {"ETag": f'"{etag}"', "X-Repo-Commit": repo["sha"]}
                    )
                return self._send(404, {"error": f"no route for {self.command} {path}"})

            # ---- served repositories (what from_pretrained and load_dataset read) --------------

            def _error(self, status: int, code: str, message: str, headers=None):
                return self._send(status, {"error": message}, headers={"X-Error-Code": code, **(headers or {})})

            def _serve(self, raw: str, body: bytes) -> bool:
                """Answer a request for a served repository; False when the request is not for one."""
                kinds = {"models": "model", "datasets": "dataset"}
                match = re.fullmatch(
                    r"/api/(models|datasets)/([^/]+/[^/]+)(?:/(revision|tree|paths-info)/([^/]+)(/.*)?)?", raw
                )
                if match:
                    kind, repo_id = kinds[match.group(1)], unquote(match.group(2))
                    action, revision, rest = (
                        match.group(3),
                        unquote(match.group(4) or "main"),
                        unquote(match.group(5) or ""),
                    )
                else:
                    match = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", raw)
                    if not match:
                        return False
                    kind = "dataset" if match.group(1) else "model"
                    repo_id, action = unquote(match.group(2)), "resolve"
                    revision, rest = unquote(match.group(3)), unquote(match.group(4))
                repo = hub.served.get((kind, repo_id))
                if repo is None:
                    if kind == "model" and repo_id in hub.repos:
                        return False  # a repository made by the push tests
                    # the Hub answers 401 for a repository that does not exist, when asked without a token
                    self._error(401 if not self._authorized() else 404, "RepoNotFound", "Repository not found")
                    return True
                found = repo.find(revision)
                if found is None:
                    self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                    return True
                sha, files = found
                if action == "resolve":
                    if repo.gated and not self._authorized():
                        self._error(401, "GatedRepo", "Access to this repository is restricted")
                        return True
                    if repo.gated == "denied":
                        self._error(403, "GatedRepo", "Access to this repository is restricted")
                        return True
                    data = files.get(rest)
                    if data is None:
                        self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
                        return True
                    etag = hashlib.sha1(data).hexdigest()
                    self._send(200, data, "application/octet-stream", {"ETag": f'"{etag}"', "X-Repo-Commit": sha})
                    return True
                if action in (None, "revision"):
                    info = {
                        "id": repo_id,
                        "sha": sha,
                        "private": False,
                        "gated": "manual" if repo.gated else False,
                        "disabled": False,
                        "downloads": 0,
                        "likes": 0,
                        "tags": [],
                        "lastModified": "2026-01-01T00:00:00.000Z",
                        "siblings": [{"rfilename": name} for name in sorted(files)],
                        "cardData": repo.card_data,
                    }
                    if kind == "model":
                        info["modelId"] = repo_id
                    self._send(200, info)
                    return True
                if action == "tree":
                    folder = rest.strip("/")
                    recursive = "recursive=true" in (urlparse(self.path).query or "").lower()
                    self._send(200, self._listing(files, folder, recursive, sha))
                    return True
                # paths-info: POST paths=... (form or JSON)
                try:
                    wanted = json.loads(body)["paths"]
                except (ValueError, KeyError, TypeError):
                    from urllib.parse import parse_qs

                    wanted = parse_qs(body.decode()).get("paths", [])
                wanted = [wanted] if isinstance(wanted, str) else wanted
                entries = [
                    e for e in self._listing(files, "", True, sha) if e["path"] in {w.strip("/") for w in wanted}
                ]
                self._send(200, entries)
                return True

            @staticmethod
            def _listing(files: dict[str, bytes], folder: str, recursive: bool, sha: str) -> list[dict]:
                prefix = f"{folder}/" if folder else ""
                entries: dict[str, dict] = {}
                for name, data in sorted(files.items()):
                    if not name.startswith(prefix):
                        continue
                    parts = name[len(prefix) :].split("/")
                    for depth in range(1, len(parts)):  # the folders on the way
                        directory = prefix + "/".join(parts[:depth])
                        if recursive or depth == 1:
                            entries.setdefault(
                                directory, {"type": "directory", "oid": sha, "size": 0, "path": directory}
                            )
                    if recursive or len(parts) == 1:
                        entries[name] = {
                            "type": "file",
                            "oid": hashlib.sha1(data).hexdigest(),
                            "size": len(data),
                            "path": name,
                        }
                return list(entries.values())

            def _commit(self, repo_id: str, body: bytes):
                if not self._authorized():
                    return self._send(401, {"error": "Invalid token"})
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._send(404, {"error": "Repository not found"})
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        value = item["value"]
                        repo["files"][value["path"]] = base64.b64decode(value["content"])
                    elif item["key"] == "deletedFile":
                        repo["files"].pop(item["value"]["path"], None)
                repo["sha"] = hashlib.sha1(
                    repr(sorted((k, hashlib.sha1(v).hexdigest()) for k, v in repo["files"].items())).encode()
                ).hexdigest()
                return self._send(
                    200,
                    {
                        "commitUrl": f"{hub.url}/{repo_id}/commit/{repo['sha']}",
                        "commitOid": repo["sha"],
                        "pullRequestUrl": None,
                    },
                )

            def _validate_yaml(self, spec: dict):
                content = spec.get("content", "")
                hub.validated.append(content)
                match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
                try:
                    meta = yaml.safe_load(match.group(1)) if match else None
                except yaml.YAMLError as exc:
                    return self._send(400, f"YAML does not parse: {exc}".encode(), "text/plain")
                problems = check_metadata(meta)
                if problems:
                    return self._send(400, "; ".join(problems).encode(), "text/plain")
                return self._send(200, {"errors": [], "warnings": []})

            do_GET = do_POST = do_HEAD = do_PUT = _route

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def serve(
        self, kind: str, repo_id: str, revisions: dict[str, dict[str, bytes]], gated=False, card_data=None
    ) -> ServedRepo:
        """Serve a model or dataset repository; ``gated``: True (needs a token) or "denied" (403 even with one)."""
        repo = ServedRepo(revisions, gated=gated, card_data=card_data)
        self.served[(kind, repo_id)] = repo
        return repo

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def check_metadata(meta) -> list[str]:
    """The Hub's rules for model card metadata that hf_transfer writes, as problems found."""
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    problems = []
    for key in ("library_name", "pipeline_tag", "license"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"{key} must be a string")
    for key in ("tags", "datasets", "language"):
        if key in meta and not (isinstance(meta[key], list) and all(isinstance(v, str) for v in meta[key])):
            problems.append(f"{key} must be a list of strings")
    for entry in meta.get("model-index", []) or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            problems.append("model-index entries need a name")
            continue
        for result in entry.get("results", []):
            if not result.get("task", {}).get("type"):
                problems.append("model-index results need task.type")
            dataset = result.get("dataset", {})
            if not dataset.get("name") or not dataset.get("type"):
                problems.append("model-index results need dataset.name and dataset.type")
            for metric in result.get("metrics", []):
                if "type" not in metric or not isinstance(metric.get("value"), (int, float)):
                    problems.append("model-index metrics need a type and a numeric value")
    return problems
