"""The builder: a Dockerfile and a context to an image, step by step, with a content-addressed cache.

Each stage is a chain of states (image config + layers). A step's cache key is
the hash of its parent state's key and of what the step does after variable
substitution — for RUN with the build args it sees, for COPY/ADD with the
digest of the copied content — so a change rebuilds that step and those after
it only. Every step's result is a cache entry in imagesvc (which keeps its
layers from garbage collection), metadata-only steps included, so a fully
cached rebuild gives the very same image ID. Nothing is tagged unless the
whole build succeeded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pallet import errors, log, reference
from pallet.engine import _buildcopy, _dockerfile, _shellwords
from pallet.engine._buildrun import Runner, RunStep, StepFailed
from pallet.engine.v1 import engine_pb2 as pb
from pallet.images.v1 import images_pb2 as ipb

DEFAULT_SHELL = ["/bin/sh", "-c"]
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
SIZE_LABEL = "pallet.io/uncompressed-size"
# Recorded in built images' configs: each step's cache key and the layer it made (-1: none), so that
# `--cache-from IMAGE` can reuse the image's layers in another builder (BuildKit's inline cache, simpler).
CACHE_FIELD = "pallet.build.cache.v1"


def canonical(doc: Any) -> bytes:
    """Image config JSON as imagesvc writes cache entries (sorted keys, compact): same bytes, same ID."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _rfc3339(seconds: float) -> str:
    secs = int(seconds)
    frac = f"{seconds - secs:.9f}"[2:].rstrip("0")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{stamp}.{frac}Z" if frac else f"{stamp}Z"


@dataclass
class State:
    """A stage's image so far."""

    config: dict[str, Any]
    layers: list[ipb.LayerInfo]
    key: str

    @property
    def chain(self) -> str:
        return self.layers[-1].chain_id if self.layers else ""

    def copy(self) -> State:
        return State(json.loads(json.dumps(self.config)), list(self.layers), self.key)


@dataclass
class StageVars:
    """Build args declared in a stage and their values (visible to RUN, not kept in the image)."""

    args: dict[str, str] = field(default_factory=dict)


class Build:
    """One `palletctl build`: options, its work directory and the events it emits."""

    def __init__(self, builder: Builder, opts: pb.BuildOptions, work: str, alive: Callable[[], bool]) -> None:
        self.b = builder
        self.opts = opts
        self.work = work
        self.context = os.path.join(work, "context")
        self.alive = alive
        self.step_no = 0
        self.total = 0
        self.epoch = int(opts.source_date_epoch)
        self.stages: dict[int, State] = {}
        self.snapshots: list[str] = []  # prepared and not yet committed: removed at the end
        self.escape = "\\"
        self.df: Any = None
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self.cache_from: dict[str, tuple[list[ipb.LayerInfo], int, dict[str, Any]]] = {}

    # -- events ----------------------------------------------------------------------

    def _now(self) -> str:
        return _rfc3339(self.epoch if self.epoch else time.time())

    # -- the build -------------------------------------------------------------------

    def run(self) -> Iterator[pb.BuildEvent]:
        df = self._dockerfile()
        self.df = df
        self._drop_ignored_build_files()
        self.escape = df.escape
        for w in df.warnings:
            yield pb.BuildEvent(warning=w)
        self._check_platform(self.opts.platform)
        os_, arch, _ = self.b.platform()
        # Docker's automatic platform args, visible to FROM (and to stages that declare them).
        auto = {"BUILDPLATFORM": f"{os_}/{arch}", "TARGETPLATFORM": f"{os_}/{arch}", "BUILDOS": os_,
                "BUILDARCH": arch, "TARGETOS": os_, "TARGETARCH": arch}
        global_args = {**auto, **self._declare(auto, df.args_before_from)}
        target = _dockerfile.stage_for_target(df, self.opts.target) if self.opts.target else len(df.stages) - 1

        def resolve_from(text: str) -> str:
            return _shellwords.expand(text, global_args, self.escape)

        order = _dockerfile.needed_stages(df, target, resolve_from)
        self.total = sum(1 + len(df.stages[i].instructions) for i in order)
        self._load_cache_from()
        yield from self._stages(df, order, global_args, resolve_from)
        final = self.stages[target]
        cfg = final.config
        if self.opts.labels:
            c = cfg.setdefault("config", {})
            c["Labels"] = {**(c.get("Labels") or {}), **dict(self.opts.labels)}
        image = self.b.images_builds.CreateImage(ipb.CreateImageRequest(
            config=canonical(cfg), layers=final.layers, names=list(self.opts.tags)))
        yield pb.BuildEvent(image_id=image.id)

    def _stages(self, df: Any, order: list[int], global_args: dict[str, str],
                resolve_from: Callable[[str], str]) -> Iterator[pb.BuildEvent]:
        """Stages in threads, each once its dependencies are built (independent ones at the same time);
        events come out stage after stage, in order, so the output reads like a sequential build."""
        import queue
        from concurrent.futures import ThreadPoolExecutor

        deps = {i: {d for d, _line in _dockerfile.stage_dependencies(df, i, resolve_from)} for i in order}
        queues: dict[int, queue.SimpleQueue[Any]] = {i: queue.SimpleQueue() for i in order}
        finished = {i: threading.Event() for i in order}
        failed: dict[int, BaseException] = {}
        outer_alive = self.alive
        self.alive = lambda: outer_alive() and not failed
        end = object()

        def work(i: int) -> None:
            try:
                for d in deps[i]:
                    if d in finished:
                        finished[d].wait()
                if failed:
                    return
                for ev in self._stage(df, df.stages[i], global_args):
                    queues[i].put(ev)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
                failed[i] = exc
            finally:
                finished[i].set()
                queues[i].put(end)

        with ThreadPoolExecutor(max_workers=min(4, len(order)), thread_name_prefix="build-stage") as pool:
            for i in order:
                pool.submit(work, i)
            number = 0
            try:
                for i in order:
                    while (ev := queues[i].get()) is not end:
                        if ev.WhichOneof("event") == "step":  # numbered as shown, stage after stage
                            number += 1
                            ev.step.index = number
                            ev.step.total = max(ev.step.total, number)
                        yield ev
                    if i in failed:
                        raise failed[i]
                    if failed:  # a later stage failed first: report that one
                        raise next(iter(failed.values()))
            finally:
                failed.setdefault(-1, errors.Unavailable("build stopped"))  # stops the other stages

    def _load_cache_from(self) -> None:
        """--cache-from IMAGE: the step keys its builder recorded, with the layers they made."""
        self.cache_from = {}
        for ref in self.opts.cache_from:
            try:
                st = self.b.image_state(ref, False)
            except errors.PalletError as exc:
                self.notes.append(f"--cache-from {ref}: {exc.message}; building without it")
                continue
            for key, idx in st.config.get(CACHE_FIELD) or []:
                self.cache_from[key] = (st.layers, idx, st.config)

    def _drop_ignored_build_files(self) -> None:
        """Docker's removeDockerfile: the Dockerfile and .dockerignore are sent even when .dockerignore
        excludes them (the daemon needs them); once read they leave the context so COPY never sees them."""
        from pallet import dockerignore

        ignore = os.path.join(self.context, ".dockerignore")
        if not os.path.isfile(ignore):
            return
        matcher = dockerignore.Matcher(dockerignore.load(ignore))
        for rel in (self.opts.dockerfile or "Dockerfile", ".dockerignore"):
            if matcher.excluded(rel):
                with contextlib.suppress(OSError, errors.InvalidArgument):
                    os.unlink(_buildcopy._inside(self.context, rel))

    def _dockerfile(self) -> Any:
        name = self.opts.dockerfile or "Dockerfile"
        candidates = [name] if self.opts.dockerfile else ["Dockerfile", "dockerfile"]
        for cand in candidates:
            try:
                real = _buildcopy._inside(self.context, cand.lstrip("/"))
                with open(real, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except (OSError, errors.InvalidArgument):
                continue
            return _dockerfile.parse(text, os.path.basename(cand))
        raise errors.InvalidArgument(f"Cannot locate specified Dockerfile: {name}")

    def _declare(self, env: dict[str, str], insts: Iterable[Any], into: dict[str, str] | None = None
                 ) -> dict[str, str]:
        """ARG instructions: the build arg's value, else the default (expanded), else a global's."""
        out = into if into is not None else {}
        for inst in insts:
            for name, default in inst.key_values:
                if name in self.opts.build_args:
                    out[name] = self.opts.build_args[name]
                elif default is not None:
                    out[name] = _shellwords.expand(default, {**env, **out}, self.escape)
                elif name in env:
                    out[name] = env[name]
        return out

    # -- stages ----------------------------------------------------------------------

    def _check_platform(self, wanted: str) -> None:
        os_, arch, _ = self.b.platform()
        if wanted and wanted.split("/")[:2] != [os_, arch][: len(wanted.split("/"))]:
            raise errors.InvalidArgument(f"platform {wanted} cannot be built here: this builder runs {os_}/{arch} "
                                         "images only")

    def _stage(self, df: Any, stage: Any, global_args: dict[str, str]) -> Iterator[pb.BuildEvent]:
        base = _shellwords.expand(stage.base, global_args, self.escape)
        if stage.platform:
            self._check_platform(_shellwords.expand(stage.platform, global_args, self.escape))
        yield self._step_event(stage, stage.from_instruction, f"FROM {base}")
        started = time.monotonic()
        state = self._base(df, base)
        yield pb.BuildEvent(done=time.monotonic() - started)
        svars = StageVars()
        triggers = [inst for trigger in state.config.get("config", {}).get("OnBuild") or []
                    for inst in _dockerfile.parse(f"FROM scratch\n{trigger}\n", "ONBUILD").stages[0].instructions]
        instructions = triggers + list(stage.instructions)
        if state.config.get("config", {}).get("OnBuild"):
            state.config["config"]["OnBuild"] = None
        for inst in instructions:
            if not self.alive():
                raise errors.Unavailable("build cancelled")
            yield self._step_event(stage, inst, inst.original)
            started = time.monotonic()
            try:
                state = yield from self._instruction(state, inst, svars, global_args)
            except StepFailed as exc:
                raise errors.InvalidArgument(
                    f"{df.name}:{inst.line}: process \"{' '.join(self._display_run(state, inst))}\" did not "
                    f"complete successfully: exit code: {exc.code}") from None
            except errors.PalletError as exc:
                if exc.message.startswith(f"{df.name}:"):
                    raise
                raise type(exc)(f"{df.name}:{inst.line}: {exc.message}") from None
            yield pb.BuildEvent(done=time.monotonic() - started)
        self.stages[stage.index] = state

    def _step_event(self, stage: Any, inst: Any, text: str) -> pb.BuildEvent:
        with self._lock:
            self.step_no += 1
            index = self.step_no
        return pb.BuildEvent(step=pb.BuildEvent.Step(
            index=index, total=self.total, stage=stage.name or str(stage.index), instruction=text,
            line=getattr(inst, "line", 0)))

    def _base(self, df: Any, base: str) -> State:
        if base.lower() == "scratch":
            host = self.b.platform()
            return State({"architecture": host[1], "os": "linux", "config": {}, "history": [],
                          "rootfs": {"type": "layers", "diff_ids": []}}, [], _sha("scratch"))
        stage = self._stage_state(base)
        if stage is not None:
            return stage.copy()
        return self.b.image_state(base, self.opts.pull)

    def _stage_state(self, ref: str) -> State | None:
        """A stage built already, by name (case-insensitive) or index."""
        for st in self.df.stages:
            if (st.name and st.name == ref.lower()) or str(st.index) == ref:
                return self.stages.get(st.index)
        return None

    # -- instructions ----------------------------------------------------------------

    def _env(self, state: State, svars: StageVars) -> dict[str, str]:
        env = dict(e.split("=", 1) for e in state.config.get("config", {}).get("Env") or [] if "=" in e)
        return {**svars.args, **env}

    def _instruction(self, state: State, inst: Any, svars: StageVars, global_args: dict[str, str]
                     ) -> Generator[pb.BuildEvent, None, State]:
        cmd = inst.cmd
        if cmd == "RUN":
            return (yield from self._run(state, inst, svars))
        if cmd in ("COPY", "ADD"):
            new, hit = self._copy(state, inst, svars)
            if hit:
                yield pb.BuildEvent(cached=True)
            return new
        if cmd == "ARG":
            self._declare(global_args, [inst], svars.args)
            for name, _ in inst.key_values:
                svars.args.setdefault(name, "")
                if name not in self.opts.build_args and name in PROXY_ARGS:
                    svars.args.pop(name, None)
            change: Callable[[dict[str, Any]], None] = lambda c: None  # noqa: E731
        else:
            change = self._config_change(state, inst, svars)
        new, hit = self._meta(state, inst, change, svars)
        if hit:
            yield pb.BuildEvent(cached=True)
        return new

    def _config_change(self, state: State, inst: Any, svars: StageVars) -> Callable[[dict[str, Any]], None]:
        cmd, env, esc = inst.cmd, self._env(state, svars), self.escape

        def x(text: str) -> str:
            return _shellwords.expand(text, env, esc)

        def form(c: dict[str, Any]) -> list[str]:
            if inst.json_form:
                return list(inst.args)
            return [*(c.get("Shell") or DEFAULT_SHELL), inst.args[0]] if inst.args else []

        def change(c: dict[str, Any]) -> None:
            if cmd == "ENV":
                cur = [e for e in c.get("Env") or []]
                for k, v in inst.key_values:
                    value = x(v or "")
                    cur = [e for e in cur if e.split("=", 1)[0] != k] + [f"{k}={value}"]
                    env[k] = value
                c["Env"] = cur
            elif cmd == "LABEL":
                labels = c.get("Labels") or {}
                labels.update({x(k): x(v or "") for k, v in inst.key_values})
                c["Labels"] = labels
            elif cmd == "WORKDIR":
                path = x(inst.args[0])
                c["WorkingDir"] = os.path.normpath(os.path.join(c.get("WorkingDir") or "/", path))
            elif cmd == "USER":
                c["User"] = x(inst.args[0])
            elif cmd == "EXPOSE":
                ports = c.get("ExposedPorts") or {}
                for word in (x(w) for w in inst.words):
                    port, _, proto = word.partition("/")
                    ports[f"{port}/{(proto or 'tcp').lower()}"] = {}
                c["ExposedPorts"] = ports
            elif cmd == "VOLUME":
                vols = c.get("Volumes") or {}
                vols.update({x(v): {} for v in inst.words})
                c["Volumes"] = vols
            elif cmd == "ENTRYPOINT":
                c["Entrypoint"] = form(c) or None
                c["Cmd"] = None  # a new entrypoint drops the base image's CMD, as Docker does
            elif cmd == "CMD":
                c["Cmd"] = form(c) or None
            elif cmd == "STOPSIGNAL":
                c["StopSignal"] = x(inst.args[0])
            elif cmd == "SHELL":
                c["Shell"] = list(inst.args)
            elif cmd == "ONBUILD":
                c["OnBuild"] = [*(c.get("OnBuild") or []), inst.args[0]]
            elif cmd == "HEALTHCHECK":
                c["Healthcheck"] = _healthcheck(inst, c)
            elif cmd == "MAINTAINER":
                pass  # recorded as the author below

        return change

    def _meta(self, state: State, inst: Any, change: Callable[[dict[str, Any]], None], svars: StageVars
              ) -> tuple[State, bool]:
        key = _sha(state.key, inst.cmd, inst.original, sorted(svars.args.items()) if inst.cmd == "ARG" else None)
        hit = self._cached(key)
        if hit is not None:
            return hit, True
        new = state.copy()
        c = new.config.setdefault("config", {})
        change(c)
        if inst.cmd == "MAINTAINER":
            new.config["author"] = inst.args[0]
        self._history(new, inst, empty=True)
        new.config.setdefault(CACHE_FIELD, []).append([key, -1])
        new.key = key
        self.b.images_builds.CachePut(ipb.CacheEntry(key=key, config=canonical(new.config), layers=new.layers))
        return new, False

    def _cached(self, key: str) -> State | None:
        if self.opts.no_cache:
            return None
        entry = self.b.images_builds.CacheGet(ipb.CacheGetRequest(key=key))
        if not entry.found:
            return None
        return State(json.loads(entry.config), list(entry.layers), key)

    def _reuse(self, state: State, inst: Any, key: str) -> State | None:
        """A layer step another builder made, found in a --cache-from image (same key, same parent layers)."""
        found = self.cache_from.get(key)
        if found is None or self.opts.no_cache:
            return None
        layers, idx, _cfg = found
        if idx < 0 or idx != len(state.layers) or (idx and layers[idx - 1].chain_id != state.chain):
            return None
        new = state.copy()
        self._history(new, inst, empty=False)
        new.config.setdefault(CACHE_FIELD, []).append([key, idx])
        new.layers.append(layers[idx])
        new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layers[idx].diff_id)
        new.key = key
        self.b.images_builds.CachePut(ipb.CacheEntry(key=key, config=canonical(new.config), layers=new.layers))
        return new

    def _history(self, state: State, inst: Any, empty: bool) -> None:
        created = self._now()
        entry: dict[str, Any] = {"created": created, "created_by": _created_by(inst),
                                 "comment": "pallet.build.v1"}
        if empty:
            entry["empty_layer"] = True
        state.config.setdefault("history", []).append(entry)
        state.config["created"] = created

    # -- RUN -------------------------------------------------------------------------

    def _display_run(self, state: State, inst: Any) -> list[str]:
        if inst.json_form:
            return list(inst.args)
        shell = state.config.get("config", {}).get("Shell") or DEFAULT_SHELL
        text = inst.args[0]
        if inst.heredocs:
            if all(inst.heredoc_for(w) is not None for w in text.split()):
                text = "\n".join(h.data for h in inst.heredocs)  # `RUN <<EOF`: the document is the script
            else:  # `RUN cmd <<EOF`: the shell reads the here-document itself
                text = text + "\n" + "".join(f"{h.content}{'' if h.content.endswith(chr(10)) else chr(10)}{h.name}\n"
                                           for h in inst.heredocs)
        return [*shell, text]

    def _run(self, state: State, inst: Any, svars: StageVars) -> Generator[pb.BuildEvent, None, State]:
        argv = self._display_run(state, inst)
        network = (inst.flags.get("network") or [self.opts.network or "bridge"])[-1]
        if network == "default":
            network = "bridge"
        if network not in ("bridge", "host", "none"):
            raise errors.InvalidArgument(f"RUN --network={network}: want default, none or host")
        if network == "host" and self.opts.network != "host":
            # As BuildKit's network.host entitlement: the person building decides, not the Dockerfile.
            raise errors.InvalidArgument("RUN --network=host is not allowed: build with --network host to allow it")
        key = _sha(state.key, "RUN", argv, network, sorted(svars.args.items()), inst.flags.get("mount") or [],
                   self._bind_digests(inst))
        hit = self._cached(key) or self._reuse(state, inst, key)
        if hit is not None:
            yield pb.BuildEvent(cached=True)
            return hit
        new = state.copy()
        c = new.config.get("config", {})
        env = list(c.get("Env") or [])
        have = {e.split("=", 1)[0] for e in env}
        env += [f"{k}={v}" for k, v in sorted(svars.args.items()) if k not in have]
        # Docker's predefined proxy args reach RUN without an ARG, and stay out of the cache key and history.
        env += [f"{k}={v}" for k, v in sorted(self.opts.build_args.items())
                if k in PROXY_ARGS and k not in svars.args and k not in have]
        if not any(e.startswith("PATH=") for e in env):
            env.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        snap = f"build-{os.path.basename(self.work)}-{os.urandom(6).hex()}"
        self.b.images.prepare(snap, state.chain)
        self.snapshots.append(snap)
        with contextlib.ExitStack() as stack:
            mounts = self.b.run_mounts(inst, self, svars, stack)
            step = RunStep(step_id=os.urandom(16).hex(), argv=argv, env=env, workdir=c.get("WorkingDir") or "/",
                           user=c.get("User") or "", network=network, mounts=mounts)
            for chunk in self.b.runner.run(step, snap, self.alive):
                yield pb.BuildEvent(output=chunk)
        self._history(new, inst, empty=False)
        return self._commit(new, snap, state, key)

    def _bind_digests(self, inst: Any) -> list[str]:
        """RUN --mount=type=bind from the context: what is mounted is part of the step's inputs."""
        out = []
        for spec in inst.flags.get("mount") or []:
            fields = dict(f.partition("=")[::2] for f in spec.split(","))
            if fields.get("type", "bind") == "bind" and not fields.get("from"):
                src = fields.get("source", fields.get("src", "."))
                out.append(_buildcopy.digest(_buildcopy.resolve_sources(self.context, [src], "RUN --mount")))
        return out

    def _commit(self, new: State, snap: str, parent: State, key: str) -> State:
        new.config.setdefault(CACHE_FIELD, []).append([key, len(parent.layers)])
        layer = self.b.images_builds.CommitLayer(ipb.CommitLayerRequest(
            key=snap, parent=parent.chain, epoch=self.epoch,
            cache=ipb.CacheEntry(key=key, config=canonical(new.config), layers=parent.layers)))
        self.snapshots.remove(snap)
        new.layers.append(layer)
        new.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(layer.diff_id)
        new.key = key
        return new

    # -- COPY / ADD ------------------------------------------------------------------

    def _copy(self, state: State, inst: Any, svars: StageVars) -> tuple[State, bool]:
        env = self._env(state, svars)
        words = inst.words
        if len(words) < 2:
            raise errors.InvalidArgument(f"{inst.cmd} requires at least two arguments")
        *srcs, dest = [_shellwords.expand(w, env, self.escape) for w in words]
        frm = (inst.flags.get("from") or [""])[-1]
        chown = (inst.flags.get("chown") or [""])[-1]
        chmod_text = (inst.flags.get("chmod") or [""])[-1]
        chmod = None
        if chmod_text:
            try:
                chmod = int(chmod_text, 8)
            except ValueError:
                raise errors.InvalidArgument(f"invalid --chmod {chmod_text!r}: want octal bits like 755") from None
        with contextlib.ExitStack() as stack:
            urls = [s for s in srcs if inst.cmd == "ADD" and s.startswith(("http://", "https://"))]
            docs = [s for s in srcs if inst.heredoc_for(s) is not None]
            root = self._from_root(stack, _shellwords.expand(frm, env, self.escape)) if frm else self.context
            sources = _buildcopy.resolve_sources(root, [s for s in srcs if s not in urls and s not in docs],
                                                 inst.cmd)
            if docs:  # COPY <<EOF /dest: the documents are the files (named after their delimiters)
                where = os.path.join(self.work, f"heredoc-{os.urandom(6).hex()}")
                os.makedirs(where)
                for n, word in enumerate(docs):
                    doc = inst.heredoc_for(word)
                    if "/" in doc.name or doc.name in (".", ".."):
                        raise errors.InvalidArgument(f"invalid heredoc name {doc.name!r} for {inst.cmd}: "
                                                     "it names the file written, so it may not contain '/'")
                    os.makedirs(os.path.join(where, str(n)))
                    path = os.path.join(where, str(n), doc.name)  # our own directory, the name inside it
                    with open(path, "w") as f:
                        f.write(_shellwords.expand(doc.data, env, self.escape) if doc.expand else doc.data)
                    os.chmod(path, 0o644)
                    sources.append(_buildcopy.Source(doc.name, path, False))
            if urls:
                dl = os.path.join(self.work, f"download-{os.urandom(6).hex()}")
                os.makedirs(dl, exist_ok=True)
                sources += [_buildcopy.download(u, dl) for u in urls]
            key = _sha(state.key, inst.cmd, dest, chown, chmod_text, frm, _buildcopy.digest(sources))
            hit = self._cached(key) or self._reuse(state, inst, key)
            if hit is not None:
                return hit, True
            new = state.copy()
            snap = f"build-{os.path.basename(self.work)}-{os.urandom(6).hex()}"
            self.b.images.prepare(snap, state.chain)
            self.snapshots.append(snap)
            rootfs = self.b.mount_snapshot(stack, snap, self.work)
            uid, gid = self.b.owner(rootfs, chown)
            _buildcopy.copy(rootfs, sources, _buildcopy.CopySpec(dest=dest, uid=uid, gid=gid, chmod=chmod,
                                                                 add=inst.cmd == "ADD"),
                            new.config.get("config", {}).get("WorkingDir") or "/")
            stack.close()  # unmount before the layer is taken
            self._history(new, inst, empty=False)
            return self._commit(new, snap, state, key), False

    def _from_root(self, stack: contextlib.ExitStack, frm: str) -> str:
        """COPY --from: a stage's (or an image's) filesystem, mounted read-only for the copy."""
        source = self._stage_state(frm) or self.b.image_state(frm, False)
        view = f"build-{os.path.basename(self.work)}-from-{os.urandom(6).hex()}"
        return self.b.mount_view(stack, view, source.chain, self.work)


def _created_by(inst: Any) -> str:
    text = " ".join(inst.original.split())
    return text if len(text) < 4096 else text[:4093] + "..."


def _healthcheck(inst: Any, c: dict[str, Any]) -> dict[str, Any] | None:
    from pallet.units import parse_duration

    if inst.health_cmd == ["NONE"]:
        return {"Test": ["NONE"]}
    hc: dict[str, Any] = {}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if inst.flags.get(flag):
            hc[key] = parse_duration(inst.flags[flag][-1])
    if inst.flags.get("retries"):
        hc["Retries"] = int(inst.flags["retries"][-1])
    hc["Test"] = list(inst.health_cmd or [])
    return hc


class Builder:
    """Builds for palletd: holds the clients and the runner; one Build per request."""

    def __init__(self, manager: Any, images: Any) -> None:
        from pallet.images.v1 import images_pb2_grpc as ipb_grpc

        self.m = manager
        self.images = images
        self.images_builds = _Mapped(ipb_grpc.BuildsStub(images.channel))
        self.log = log.get("builder")
        self.root = os.path.join(manager.paths.exec_root, "build")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.runner = Runner(manager.runtime.runtime, os.path.join(manager.paths.exec_root, "runc-build"),
                             manager.runtime.cgroup_parent, os.path.join(self.root, "run"), manager.net, images)

    def recover(self) -> None:
        """After a crash mid-build: stop its step containers, unmount and remove its work, drop its snapshots."""
        from pallet.shim import _mount

        runc_root = self.runner.runtime_root
        if os.path.isdir(runc_root):
            res = subprocess.run([self.runner.runtime, "--root", runc_root, "list", "-q"], capture_output=True,
                                 text=True, check=False)
            for cid in res.stdout.split():
                subprocess.run([self.runner.runtime, "--root", runc_root, "delete", "--force", cid],
                               capture_output=True, check=False)
        for target in sorted(_mount.mounted_under(self.root), key=len, reverse=True):
            with contextlib.suppress(OSError):
                _mount.umount(target)
        for name in os.listdir(self.root):
            shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
        try:
            snaps = self.images.snapshots.List(ipb.ListSnapshotsRequest(), timeout=30).items
        except Exception as exc:  # noqa: BLE001 - recovery is best effort
            self.log.warning("could not list snapshots to clean up builds", error=str(exc))
            return
        for snap in sorted((s.name for s in snaps if s.name.startswith("build-")), reverse=True):
            with contextlib.suppress(errors.PalletError):
                self.images.remove_snapshot(snap)
                self.log.info("removed a build snapshot left by a crash", key=snap)

    def platform(self) -> tuple[str, str, str]:
        import platform as _platform

        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(_platform.machine(), _platform.machine())
        return "linux", arch, ""

    def build(self, opts: pb.BuildOptions, chunks: Iterator[bytes], alive: Callable[[], bool]
              ) -> Iterator[pb.BuildEvent]:
        for tag in opts.tags:
            try:
                reference.parse_tag_target(tag)
            except errors.PalletError as exc:
                raise errors.InvalidArgument(f"invalid tag {tag!r}: {exc}") from None
        work = os.path.join(self.root, os.urandom(8).hex())
        os.makedirs(os.path.join(work, "context"), mode=0o700)
        b = Build(self, opts, work, alive)
        try:
            self._receive(b.context, chunks)
            for ev in b.run():
                while b.notes:
                    yield pb.BuildEvent(warning=b.notes.pop(0))
                yield ev
        finally:
            for snap in b.snapshots:
                with contextlib.suppress(errors.PalletError):
                    self.images.remove_snapshot(snap)
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _receive(context: str, chunks: Iterator[bytes]) -> None:
        """The context tar, extracted safely (nothing outside the context directory)."""
        from pallet.scopedfs import ChunkReader, Extractor, Root

        reader = ChunkReader(chunks)
        if reader.at_eof():
            return
        with Root.open(context) as root:
            Extractor(root, [], owner=lambda m: (0, 0), follow_symlinks=False).extract(reader, compressed=True)
        reader.drain()

    # -- images ----------------------------------------------------------------------

    def image_state(self, ref: str, pull: bool) -> State:
        image = None
        if not pull:
            with contextlib.suppress(errors.NotFound):
                image = self.images.get_image(ref)
        if image is None:
            image = self._pull(ref)
        config = json.loads(b"".join(self.images.read_content(image.id)))
        manifest = json.loads(b"".join(self.images.read_content(image.target.digest)))
        layers: list[ipb.LayerInfo] = []
        chain = ""
        for desc, diff_id in zip(manifest.get("layers", []), config["rootfs"]["diff_ids"], strict=False):
            chain = diff_id if not chain else "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
            size = 0
            with contextlib.suppress(errors.PalletError, ValueError):
                size = int(self.images.stat_snapshot(chain).labels.get(SIZE_LABEL, "0"))
            layers.append(ipb.LayerInfo(blob=ipb.Descriptor(media_type=desc["mediaType"], digest=desc["digest"],
                                                            size=desc["size"]), diff_id=diff_id, chain_id=chain,
                                        size=size))
        return State(config, layers, _sha("image", image.id))

    def _pull(self, ref: str) -> ipb.Image:
        """A base image from its registry (anonymous, or as the daemon's registry settings allow)."""
        import grpc
        from pallet import rpc

        try:
            for _ in self.images.images.Pull(ipb.PullImageRequest(ref=ref), timeout=3600):
                pass
        except grpc.RpcError as exc:
            err = rpc.to_error(exc)
            raise type(err)(f"base image {ref}: {err.message}") from None
        image: ipb.Image = self.images.get_image(ref)
        return image

    def mount_snapshot(self, stack: contextlib.ExitStack, key: str, work: str) -> str:
        from pallet.shim import _mount

        target = os.path.join(work, f"mnt-{key.rsplit('-', 1)[-1]}")
        os.makedirs(target, exist_ok=True)
        for m in self.images.mounts(key):
            _mount.mount(m.type or "none", m.source or "none", target, [*m.options, "private"])
            stack.callback(_mount.umount, target)
        return target

    def mount_view(self, stack: contextlib.ExitStack, key: str, chain: str, work: str) -> str:
        from pallet.shim import _mount

        target = os.path.join(work, f"view-{key.rsplit('-', 1)[-1]}")
        os.makedirs(target, exist_ok=True)
        mounts = self.images.view(key, chain)
        stack.callback(self.images.remove_snapshot, key)
        for m in mounts:
            _mount.mount(m.type or "none", m.source or "none", target, [*m.options, "private"])
            stack.callback(_mount.umount, target)
        return target

    def owner(self, rootfs: str, chown: str) -> tuple[int, int]:
        if not chown:
            return 0, 0
        from pallet.engine import _rootfs

        uid, gid, _ = _rootfs.resolve_user([rootfs], chown)
        return uid, gid

    def run_mounts(self, inst: Any, build: Build, svars: StageVars, stack: contextlib.ExitStack
                   ) -> list[dict[str, Any]]:
        """RUN --mount=type=secret|cache|bind: mounts outside the snapshot (never in the layer)."""
        out: list[dict[str, Any]] = []
        for spec in inst.flags.get("mount") or []:
            fields = dict(f.partition("=")[::2] for f in spec.split(","))
            kind = fields.get("type", "bind")
            target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
            if kind == "secret":
                sid = fields.get("id") or os.path.basename(target)
                if sid not in build.opts.secrets:
                    if fields.get("required", "false") == "true":
                        raise errors.InvalidArgument(f"secret {sid} not provided: pass --secret id={sid},src=FILE")
                    continue
                path = os.path.join(build.work, "secrets", sid)
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400), "wb") as f:
                    f.write(build.opts.secrets[sid])
                out.append({"destination": target or f"/run/secrets/{sid}", "type": "bind", "source": path,
                            "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
            elif kind == "cache":
                cid = fields.get("id") or target
                path = os.path.join(self.m.paths.data_root, "build-cache-mounts",
                                    hashlib.sha256(cid.encode()).hexdigest())
                os.makedirs(path, mode=0o755, exist_ok=True)
                out.append({"destination": target, "type": "bind", "source": path, "options": ["rbind", "rw"]})
            elif kind == "bind":
                # from=STAGE|IMAGE: that filesystem (a read-only view); else the build context.
                root = build._from_root(stack, fields["from"]) if fields.get("from") else build.context
                src = _buildcopy._inside(root, fields.get("source", fields.get("src", ".")))
                out.append({"destination": target, "type": "bind", "source": src, "options": ["rbind", "ro"]})
            elif kind == "tmpfs":
                out.append({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]})
            else:
                raise errors.InvalidArgument(f"RUN --mount type={kind} is not supported (bind, cache, secret, tmpfs)")
        return out

    def prune(self, req: pb.BuilderPruneRequest) -> pb.BuilderPruneResponse:
        keep = 0
        for f in req.filters:
            k, _, v = f.partition("=")
            if k != "until":
                raise errors.InvalidArgument(f"invalid filter {f!r} (builder prune takes until=DURATION)")
            from pallet.units import parse_duration

            keep = parse_duration(v) // 10**9
        res = self.images_builds.CachePrune(ipb.CachePruneRequest(all=req.all, keep_recent_seconds=keep))
        return pb.BuilderPruneResponse(entries=res.entries, space_reclaimed=res.bytes)


class _Mapped:
    """A stub whose unary calls raise pallet errors."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        def call(request: Any) -> Any:
            import grpc
            from pallet import rpc

            try:
                return method(request, timeout=600)
            except grpc.RpcError as exc:
                raise rpc.to_error(exc) from None

        return call
