"""Service dependencies: start order, cycles, and which services `up NAME...` needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from pallet.client.compose._errors import ComposeFileError

if TYPE_CHECKING:
    from pallet.client.compose._types import Project, Service


def _deps(service: Service, services: Mapping[str, Service]) -> list[str]:
    """The dependencies of a service that are part of services, sorted (missing optional ones skipped)."""
    out = []
    for name, dep in sorted(service.depends_on.items()):
        if name in services:
            out.append(name)
        elif dep.required:
            raise ComposeFileError(f'service "{service.name}" depends on undefined service "{name}"')
    return out


def check_cycles(services: Mapping[str, Service]) -> None:
    """ComposeFileError("dependency cycle detected: a -> b -> a") when depends_on loops."""
    dependency_order(services, sorted(services))


def dependency_order(services: Mapping[str, Service], names: Iterable[str]) -> list[str]:
    """names and what they depend on (transitively), dependencies first; ties in name order."""
    order: list[str] = []
    done: set[str] = set()
    for root in names:
        if root not in services:
            raise ComposeFileError(f"no such service: {root}")
        _visit(root, services, order, done, [])
    return order


def _visit(name: str, services: Mapping[str, Service], order: list[str], done: set[str], stack: list[str]) -> None:
    if name in done:
        return
    if name in stack:
        cycle = stack[stack.index(name):] + [name]
        raise ComposeFileError(f"dependency cycle detected: {' -> '.join(cycle)}")
    stack.append(name)
    for dep in _deps(services[name], services):
        _visit(dep, services, order, done, stack)
    stack.pop()
    done.add(name)
    order.append(name)


def select(project: Project, names: list[str]) -> Project:
    """See Project.with_services."""
    from pallet.client.compose._types import profile_enabled

    everything = {**project.services, **project.disabled}
    active = set(project.profiles)
    for name in names:
        if name not in everything:
            raise ComposeFileError(f"no such service: {name}")
        active.update(everything[name].profiles)
    enabled = {n for n, s in everything.items() if profile_enabled(s, active)}
    needed: set[str] = set()
    pending = list(names) if names else sorted(enabled)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed.add(name)
        for dep_name, dep in sorted(everything[name].depends_on.items()):
            if dep_name in enabled:
                pending.append(dep_name)
            elif dep.required and dep_name in everything:
                profiles = ", ".join(everything[dep_name].profiles)
                raise ComposeFileError(f'service "{dep_name}" is required by "{name}" but is disabled. '
                                       f"Can be enabled by profiles [{profiles}]")
            elif dep.required:
                raise ComposeFileError(f'service "{name}" depends on undefined service "{dep_name}"')
    return dataclasses.replace(
        project,
        services={n: everything[n] for n in sorted(needed)},
        disabled={n: s for n, s in sorted(everything.items()) if n not in enabled},
        profiles=sorted(active),
    )


def enable(project: Project, names: list[str]) -> Project:
    """The project with the named services' profiles activated (compose does so for services
    named on the command line): every service then enabled, not only the named ones."""
    if not names:
        return project
    wider = select(project, names)  # checks the names and what they need
    return select(dataclasses.replace(project, profiles=wider.profiles), [])


def services_in_dependency_order(project: Project, names: Iterable[str] | None = None) -> list[str]:
    """The project's services to start for names (all when None or empty), dependencies first.

    Dependencies outside project.services (disabled, or optional and missing) are left out;
    ComposeFileError on a dependency cycle: "dependency cycle detected: a -> b -> a".
    """
    wanted = list(names or [])
    return dependency_order(project.services, wanted or sorted(project.services))
