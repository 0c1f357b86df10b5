"""What `compose up/down/ps/...` do against palletd: networks, volumes and containers of a project.

The project is the normalized model (a dict as `compose config` prints it). Containers are
found again by their com.docker.compose.* labels, so a later `up` recreates only services
whose configuration changed and `down` removes exactly what the project made.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

import grpc
from pallet.client.compose import _convert as cv

COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]
_PRINT_LOCK = threading.Lock()


class ComposeError(Exception):
    pass


class Orchestrator:
    def __init__(self, client: Any, project: dict[str, Any], name: str, working_dir: str, files: list[str],
                 out: TextIO = sys.stdout, err: TextIO = sys.stderr, *, environment: dict[str, str] | None = None,
                 disabled: Iterable[str] = ()) -> None:
        """environment: the project's (secrets and configs from `environment:` read it); disabled:
        the services whose profiles are off, whose containers are the project's, not orphans."""
        from pallet.engine.v1 import engine_pb2 as pb
        from pallet.images.v1 import images_pb2 as ipb
        from pallet.net.v1 import net_pb2 as npb

        self.c = client
        self.pb, self.ipb, self.npb = pb, ipb, npb
        self.project = project
        self.project.setdefault("_working_dir", working_dir)
        self.name = name
        self.working_dir = working_dir
        self.files = files
        self.out, self.err = out, err
        self.environment = dict(environment or {})
        self.disabled = set(disabled)

    # -- helpers ---------------------------------------------------------------------

    def _say(self, kind: str, name: str, state: str) -> None:
        with _PRINT_LOCK:  # parallel converge/stop threads print whole lines
            print(f" {kind} {name}  {state}", file=self.err, flush=True)

    @property
    def services(self) -> dict[str, Any]:
        return dict(self.project.get("services") or {})

    def containers(self, service: str | None = None, all_: bool = True, oneoff: bool = False) -> list[Any]:
        filters = [f"label={cv.LABEL_PROJECT}={self.name}"]
        if service:
            filters.append(f"label={cv.LABEL_SERVICE}={service}")
        res = self.c.containers.List(self.pb.ListContainersRequest(all=all_, filters=filters))
        out = [c for c in res.containers if (c.config.labels.get(cv.LABEL_ONEOFF) == "True") == oneoff]
        return sorted(out, key=lambda c: (c.config.labels.get(cv.LABEL_SERVICE, ""),
                                          int(c.config.labels.get(cv.LABEL_NUMBER, "0") or 0)))

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Services (with the ones they depend on) so that dependencies come first."""
        svcs = self.services
        wanted = list(names) if names else list(svcs)
        for n in wanted:
            if n not in svcs:
                raise ComposeError(f"no such service: {n}")
        out: list[str] = []
        visiting: list[str] = []

        def visit(n: str) -> None:
            if n in out:
                return
            if n in visiting:
                raise ComposeError("dependency cycle detected: " + " -> ".join([*visiting, n]))
            visiting.append(n)
            for dep in _depends(svcs[n]):
                if dep in svcs:
                    visit(dep)
            visiting.pop()
            out.append(n)

        for n in sorted(wanted):
            visit(n)
        return out

    # -- networks and volumes --------------------------------------------------------

    def _used_networks(self, services: list[str]) -> list[str]:
        used = {k for s in services for k, _ in cv.sorted_networks(self.services[s])}
        return sorted(used)

    def ensure_networks(self, services: list[str]) -> None:
        nets = self.project.get("networks") or {}
        for key in self._used_networks(services):
            spec = nets.get(key) or {}
            full = cv.network_name(self.name, key, spec)
            try:
                self.c.networks.Inspect(self.npb.InspectNetworkRequest(id=full))
                continue
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    raise
            if spec.get("external"):
                raise ComposeError(f"network {full} declared as external, but could not be found")
            req = self.npb.CreateNetworkRequest(name=full, driver=spec.get("driver") or "bridge",
                                                internal=bool(spec.get("internal")),
                                                enable_ipv6=bool(spec.get("enable_ipv6")))
            req.options.update({k: str(v) for k, v in (spec.get("driver_opts") or {}).items()})
            req.labels.update(cv._map(spec.get("labels")))
            req.labels.update({cv.LABEL_PROJECT: self.name, cv.LABEL_NETWORK: key, cv.LABEL_VERSION: cv.VERSION})
            for ipam in ((spec.get("ipam") or {}).get("config") or []):
                req.ipam.add(subnet=ipam.get("subnet", ""), gateway=ipam.get("gateway", ""),
                             ip_range=ipam.get("ip_range", ""))
            self.c.networks.Create(req)
            self._say("Network", full, "Created")

    def ensure_volumes(self) -> None:
        for key, spec in (self.project.get("volumes") or {}).items():
            spec = spec or {}
            full = cv.volume_name(self.name, key, spec)
            try:
                self.c.volumes.Inspect(self.pb.InspectVolumeRequest(name=full))
                continue
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    raise
            if spec.get("external"):
                raise ComposeError(f"external volume \"{full}\" not found")
            req = self.pb.CreateVolumeRequest(name=full, driver=spec.get("driver") or "local")
            req.driver_opts.update({k: str(v) for k, v in (spec.get("driver_opts") or {}).items()})
            req.labels.update(cv._map(spec.get("labels")))
            req.labels.update({cv.LABEL_PROJECT: self.name, cv.LABEL_VOLUME: key, cv.LABEL_VERSION: cv.VERSION})
            self.c.volumes.Create(req)
            self._say("Volume", full, "Created")

    # -- images ----------------------------------------------------------------------

    def _has_image(self, ref: str) -> bool:
        try:
            self.c.images.Inspect(self.ipb.GetImageRequest(ref=ref))
            return True
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):  # type: ignore[attr-defined]
                return False
            raise

    def ensure_images(self, services: list[str], build: bool = False, pull: str = "missing") -> None:
        for s in services:
            svc = self.services[s]
            image = cv.image_of(self.name, s, svc)
            if svc.get("build") is not None and (build or not self._has_image(image)):
                self.build_service(s)
            elif pull == "always" or (pull != "never" and not self._has_image(image)):
                self.pull_service(s)

    def pull_service(self, s: str) -> None:
        image = cv.image_of(self.name, s, self.services[s])
        self._say("Image", image, "Pulling")
        for _ in self.c.images.Pull(self.ipb.PullImageRequest(ref=image)):
            pass
        self._say("Image", image, "Pulled")

    def build_service(self, s: str) -> None:
        import os

        from pallet import dockerignore
        from pallet.client import _buildctx

        svc = self.services[s]
        b = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
        context = b.get("context") or "."
        if not os.path.isabs(context):
            context = os.path.normpath(os.path.join(self.working_dir, context))
        image = cv.image_of(self.name, s, svc)
        src = _buildctx.resolve_dockerfile(context, os.path.join(context, b["dockerfile"])
                                           if b.get("dockerfile") else None)
        matcher = dockerignore.Matcher(dockerignore.load(os.path.join(src.context, ".dockerignore")))
        chunks = _buildctx.context_tar(src.context, src.name, matcher, dockerfile_content=src.content)
        opts = self.pb.BuildOptions(tags=[image], dockerfile=src.name, build_args=cv._map(b.get("args")),
                                    target=b.get("target") or "", labels=cv._map(b.get("labels")),
                                    network=b.get("network") or "")

        def requests() -> Any:
            yield self.pb.BuildRequest(options=opts)
            for chunk in chunks:
                yield self.pb.BuildRequest(context=chunk)

        self._say("Service", s, "Building")
        for ev in self.c.builder.Build(requests()):
            if ev.WhichOneof("event") == "output":
                self.err.write(ev.output.decode(errors="replace"))
        self._say("Service", s, "Built")

    # -- containers ------------------------------------------------------------------

    def _labels(self, service: str, number: int, oneoff: bool = False) -> dict[str, str]:
        return {cv.LABEL_PROJECT: self.name, cv.LABEL_SERVICE: service, cv.LABEL_NUMBER: str(number),
                cv.LABEL_ONEOFF: "True" if oneoff else "False",
                cv.LABEL_HASH: self._hash(service), cv.LABEL_WORKDIR: self.working_dir,
                cv.LABEL_FILES: ",".join(self.files), cv.LABEL_VERSION: cv.VERSION}

    def _hash(self, service: str) -> str:
        return cv.config_hash(self.services[service], self.injected_files(service))

    def injected_files(self, service: str) -> list[cv.InjectedFile]:
        """The service's secrets and configs given by `environment:` or `content:`."""
        try:
            return cv.injected_files(self.project, self.services[service], self.environment)
        except ValueError as exc:
            raise ComposeError(f'service "{service}": {exc}') from None

    def check_injected_files(self, services: Iterable[str]) -> None:
        """ComposeError, before anything is made, when a secret's or config's variable is unset."""
        for s in services:
            self.injected_files(s)

    def _resolve_service_container(self, service: str, what: str) -> str:
        """service:NAME in network_mode/pid/ipc: a container of NAME (a running one if any; the
        engine refuses to start a container that joins a stopped one)."""
        found = sorted(self.containers(service), key=lambda c: c.state.status != self.pb.ContainerState.STATUS_RUNNING)
        if not found:
            raise ComposeError(f"service {service} has no container to share the {what} of")
        return str(found[0].id)

    def _inject(self, cid: str, files: list[cv.InjectedFile]) -> None:
        """Copy the files into the created container, as `palletctl cp` does (ArchivePut at /)."""
        header = self.pb.ArchivePutHeader(id=cid, path="/", copy_uid_gid=any(f.owned for f in files))
        data = cv.injected_tar(files)
        self.c.containers.ArchivePut(iter([self.pb.ArchivePutRequest(header=header),
                                           self.pb.ArchivePutRequest(chunk=data)]))

    def create_container(self, service: str, number: int, name: str = "", oneoff: bool = False,
                         cmd: list[str] | None = None, extra: Any = None) -> str:
        svc = self.services[service]
        cfg = cv.container_config(self.pb, self.npb, self.ipb, self.project, self.name, service, number,
                                  self._labels(service, number, oneoff), self._resolve_service_container)
        if cmd:
            del cfg.cmd[:]
            cfg.cmd.extend(cmd)
        if extra is not None:
            extra(cfg)
        name = name or cv.container_name(self.name, service, number, svc)
        if not svc.get("network_mode"):
            cfg.endpoint.aliases.append(service)
        files = self.injected_files(service)
        res = self.c.containers.Create(self.pb.CreateContainerRequest(config=cfg, name=name))
        try:
            nets = self.project.get("networks") or {}
            for key, spec in cv.sorted_networks(svc)[1:]:
                ep = self.pb.EndpointConfig(ipv4_address=spec.get("ipv4_address") or "",
                                            aliases=[service, *(spec.get("aliases") or [])])
                self.c.networks.Connect(self.pb.ConnectNetworkRequest(
                    network=cv.network_name(self.name, key, nets.get(key)), container=res.id, endpoint=ep))
            if files:
                self._inject(res.id, files)
        except BaseException:  # a half-made container is not left behind
            with contextlib.suppress(grpc.RpcError):
                self.c.containers.Remove(self.pb.RemoveContainerRequest(id=res.id, force=True))
            raise
        self._say("Container", name, "Created")
        return str(res.id)

    def start(self, cid: str, name: str) -> None:
        self.c.containers.Start(self.pb.StartContainerRequest(id=cid))
        self._say("Container", name, "Started")

    def wait_for_dependencies(self, service: str, timeout: float = 300) -> None:
        for dep, spec in _depends(self.services[service]).items():
            if dep not in self.services:
                continue
            condition = spec.get("condition") or "service_started"
            deadline = time.monotonic() + timeout
            while True:
                ctrs = self.containers(dep)
                if condition == "service_started" or not ctrs:
                    break
                if condition == "service_healthy":
                    states = [c.state.health.status if c.state.HasField("health") else "" for c in ctrs]
                    if any(c.state.status == self.pb.ContainerState.STATUS_EXITED for c in ctrs):
                        raise ComposeError(f"dependency failed to start: container {ctrs[0].name} exited "
                                           f"({ctrs[0].state.exit_code})")
                    if all(s == "healthy" for s in states):
                        self._say("Container", ctrs[0].name, "Healthy")
                        break
                    if any(s == "unhealthy" for s in states):
                        raise ComposeError(f"dependency failed to start: container {ctrs[0].name} is unhealthy")
                elif condition == "service_completed_successfully":
                    done = [c for c in ctrs if c.state.status == self.pb.ContainerState.STATUS_EXITED]
                    if len(done) == len(ctrs):
                        bad = [c for c in done if c.state.exit_code != 0]
                        if bad:
                            raise ComposeError(f"service \"{dep}\" didn't complete successfully: exit "
                                               f"{bad[0].state.exit_code}")
                        self._say("Container", ctrs[0].name, "Exited")
                        break
                if time.monotonic() > deadline:
                    raise ComposeError(f"timed out waiting for {dep} ({condition})")
                time.sleep(0.3)

    def up(self, names: list[str] | None, *, build: bool = False, force_recreate: bool = False,
           no_recreate: bool = False, scale: dict[str, int] | None = None, remove_orphans: bool = False,
           pull: str = "missing", no_start: bool = False) -> list[Any]:
        """Converge the project's containers; returns them (running ones started)."""
        services = self.order(names)
        self.check_injected_files(services)
        self.ensure_images(services, build=build, pull=pull)  # first, as compose: a failed build makes nothing
        self.ensure_networks(services)
        self.ensure_volumes()
        self._orphans(remove_orphans)
        recreated: set[str] = set()
        opts = {"force_recreate": force_recreate, "no_recreate": no_recreate, "no_start": no_start}
        # Services whose dependencies are all converged start together (compose's parallelism).
        from concurrent.futures import ThreadPoolExecutor

        pending = list(services)
        done: set[str] = set()
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="compose-up") as pool:
            while pending:
                ready = [s for s in pending if all(d in done or d not in services
                                                   for d in _depends(self.services[s]))]
                if not ready:  # cannot happen after order() checked for cycles
                    raise ComposeError("dependency cycle detected")
                for s, changed in zip(ready, pool.map(
                        lambda s: self._converge(s, (scale or {}).get(s), recreated, **opts), ready), strict=True):
                    if changed:
                        recreated.add(s)
                    done.add(s)
                    pending.remove(s)
        return [c for s in services for c in self.containers(s)]

    def _converge(self, s: str, scale: int | None, recreated: set[str], *, force_recreate: bool,
                  no_recreate: bool, no_start: bool) -> bool:
        """One service's containers as the file says; True when any was (re)created."""
        svc = self.services[s]
        want = cv.replicas(svc, scale)
        existing = {int(c.config.labels.get(cv.LABEL_NUMBER, "0") or 0): c for c in self.containers(s)}
        current_hash = self._hash(s)
        # `depends_on: {dep: {restart: true}}`: a recreated dependency restarts this service too.
        restart = any(d in recreated and spec.get("restart") for d, spec in _depends(svc).items())
        if not no_start:
            self.wait_for_dependencies(s)
        changed = False
        for number in range(1, want + 1):
            ctr = existing.pop(number, None)
            name = cv.container_name(self.name, s, number, svc)
            if ctr is not None and not no_recreate and (
                    force_recreate or ctr.config.labels.get(cv.LABEL_HASH) != current_hash
                    or self._shares_a_gone_container(ctr, svc)):
                self._remove(ctr, timeout=_grace(svc))
                self._say("Container", ctr.name, "Recreate")
                ctr = None
            if ctr is None:
                cid = self.create_container(s, number, name)
                changed = True
                if not no_start:
                    self.start(cid, name)
            elif ctr.state.status not in (self.pb.ContainerState.STATUS_RUNNING,
                                          self.pb.ContainerState.STATUS_RESTARTING) and not no_start:
                self.start(ctr.id, ctr.name)
            elif restart:
                self.c.containers.Restart(self.pb.RestartContainerRequest(id=ctr.id, timeout=_grace(svc)))
                self._say("Container", ctr.name, "Restarted")
            else:
                self._say("Container", ctr.name, "Running")
        for extra in existing.values():  # scaled down
            self._remove(extra, timeout=_grace(svc))
            self._say("Container", extra.name, "Removed")
        return changed

    def _shares_a_gone_container(self, ctr: Any, svc: dict[str, Any]) -> bool:
        """Whether ctr joins (network_mode/pid/ipc: service:X) a container X no longer has: X was
        recreated, so ctr must be too (its namespaces name the old container)."""
        hc = ctr.config.host_config
        for key, current in (("network_mode", ctr.config.network_mode), ("pid", hc.pid_mode), ("ipc", hc.ipc_mode)):
            mode = str(svc.get(key) or "")
            if mode.startswith("service:"):
                ids = {c.id for c in self.containers(mode.split(":", 1)[1])}
                if current.removeprefix("container:") not in ids:
                    return True
        return False

    def _orphans(self, remove: bool) -> None:
        known = set(self.services) | self.disabled
        orphans = [c for c in self.containers() if c.config.labels.get(cv.LABEL_SERVICE) not in known]
        if orphans and not remove:
            names = ", ".join(c.name for c in orphans)
            print(f"WARN[0000] Found orphan containers ([{names}]) for this project. If you removed or renamed "
                  "this service in your compose file, you can run this command with the --remove-orphans flag "
                  "to clean it up.", file=self.err)
        for c in orphans if remove else []:
            self._remove(c, timeout=10)
            self._say("Container", c.name, "Removed")

    def _remove(self, ctr: Any, timeout: int, volumes: bool = False) -> None:
        with contextlib.suppress(grpc.RpcError):
            self.c.containers.Stop(self.pb.StopContainerRequest(id=ctr.id, timeout=timeout))
        self.c.containers.Remove(self.pb.RemoveContainerRequest(id=ctr.id, force=True, volumes=volumes))

    def stop(self, names: list[str] | None, timeout: int | None = None) -> None:
        ctrs = [c for s in self.order(names) for c in self.containers(s, all_=False)]

        def stop_one(c: Any) -> None:
            svc = self.services.get(c.config.labels.get(cv.LABEL_SERVICE, ""), {})
            self._say("Container", c.name, "Stopping")
            self.c.containers.Stop(self.pb.StopContainerRequest(
                id=c.id, timeout=timeout if timeout is not None else _grace(svc)))
            self._say("Container", c.name, "Stopped")

        self._in_reverse_levels(ctrs, stop_one)

    def _in_reverse_levels(self, ctrs: list[Any], fn: Any) -> None:
        """fn on every container: dependents before what they depend on, each level in parallel."""
        from concurrent.futures import ThreadPoolExecutor

        depth: dict[str, int] = {}

        def level(s: str, seen: tuple[str, ...] = ()) -> int:
            if s not in depth:
                deps = [d for d in _depends(self.services.get(s, {})) if d in self.services and d not in seen]
                depth[s] = 1 + max((level(d, (*seen, s)) for d in deps), default=-1)
            return depth[s]

        groups: dict[int, list[Any]] = {}
        for c in ctrs:
            groups.setdefault(level(c.config.labels.get(cv.LABEL_SERVICE, "")), []).append(c)
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="compose-stop") as pool:
            for lvl in sorted(groups, reverse=True):
                list(pool.map(fn, groups[lvl]))

    def down(self, *, volumes: bool = False, rmi: str = "", remove_orphans: bool = False,
             timeout: int | None = None) -> None:
        known = set(self.services) | self.disabled
        ctrs = [c for c in self.containers() + self.containers(oneoff=True)
                if remove_orphans or c.config.labels.get(cv.LABEL_SERVICE) in known]

        def remove(c: Any) -> None:
            svc = self.services.get(c.config.labels.get(cv.LABEL_SERVICE, ""), {})
            self._say("Container", c.name, "Stopping")
            self._remove(c, timeout if timeout is not None else _grace(svc), volumes=volumes)
            self._say("Container", c.name, "Removed")

        self._in_reverse_levels(ctrs, remove)
        nets = self.project.get("networks") or {}
        for key in self._used_networks(list(self.services)) + [k for k in nets if k != "default"]:
            spec = nets.get(key) or {}
            if spec.get("external"):
                continue
            full = cv.network_name(self.name, key, spec)
            try:
                self.c.networks.Remove(self.npb.RemoveNetworkRequest(id=full))
                self._say("Network", full, "Removed")
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    print(f" Network {full}  Error: {exc.details()}", file=self.err)  # type: ignore[attr-defined]
        if volumes:
            for key, spec in (self.project.get("volumes") or {}).items():
                if (spec or {}).get("external"):
                    continue
                full = cv.volume_name(self.name, key, spec)
                try:
                    self.c.volumes.Remove(self.pb.RemoveVolumeRequest(name=full))
                    self._say("Volume", full, "Removed")
                except grpc.RpcError:
                    pass
        if rmi:
            for s, svc in self.services.items():
                if rmi == "local" and svc.get("image"):
                    continue
                image = cv.image_of(self.name, s, svc)
                try:
                    self.c.images.Remove(self.pb.RemoveImageRequest(ref=image))
                    self._say("Image", image, "Removed")
                except grpc.RpcError:
                    pass

    # -- logs ------------------------------------------------------------------------

    def logs(self, names: list[str] | None, follow: bool = False, tail: int = -1, timestamps: bool = False,
             no_prefix: bool = False, colour: bool = True, containers: list[Any] | None = None,
             stop: threading.Event | None = None) -> None:
        """Every container's output, prefixed `name  | ` (coloured per service on a terminal)."""
        ctrs = containers if containers is not None else [
            c for s in (self.order(names) if names else sorted(self.services)) for c in self.containers(s)]
        width = max((len(c.name) for c in ctrs), default=0)
        lock = threading.Lock()
        streams: list[Any] = []

        def pump(i: int, ctr: Any) -> None:
            req = self.pb.LogsRequest(id=ctr.id, follow=follow, tail=tail, stdout=True, stderr=True)
            stream = self.c.containers.Logs(req)
            streams.append(stream)
            colour_code = COLOURS[sorted({c.config.labels.get(cv.LABEL_SERVICE, "") for c in ctrs}).index(
                ctr.config.labels.get(cv.LABEL_SERVICE, "")) % len(COLOURS)]
            prefix = "" if no_prefix else f"{ctr.name.ljust(width)}  | "
            if colour and prefix:
                prefix = f"\x1b[{colour_code}m{prefix}\x1b[0m"
            buf = b""
            try:
                for entry in stream:
                    if timestamps and not buf:
                        buf = entry.time.ToJsonString().encode() + b" "
                    buf += entry.data
                    *lines, buf = buf.split(b"\n")
                    with lock:
                        for line in lines:
                            self.out.write(prefix + line.decode(errors="replace") + "\n")
                        self.out.flush()
            except grpc.RpcError:
                pass
            if buf:
                with lock:
                    self.out.write(prefix + buf.decode(errors="replace") + "\n")

        threads = [threading.Thread(target=pump, args=(i, c), daemon=True) for i, c in enumerate(ctrs)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if stop is not None and stop.wait(0.2):
                for s in streams:
                    s.cancel()
                break
            for t in threads:
                t.join(0.05)


def _depends(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: {"condition": "service_started"} for d in deps}
    return {k: dict(v or {}) for k, v in deps.items()}


def _grace(svc: dict[str, Any]) -> int:
    value = svc.get("stop_grace_period")
    return cv.duration_ns(value) // 1_000_000_000 if value is not None else 10
