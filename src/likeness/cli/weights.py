"""``likeness weights``: list, download, verify, import checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from likeness.cli.app import main
from likeness.cli.output import say, stderr_console
from likeness.errors import LikenessError


@main.group()
def weights() -> None:
    """Network checkpoints: list, download, verify, import, path."""


@weights.command("list")
def weights_list() -> None:
    """Every registered checkpoint: name, file, hash, licence, where cached (tab-separated)."""
    from likeness.nets.weights import REGISTRY, cache_dirs

    click.echo("name\tfile\thash\tlicence\tcached at")
    for checkpoint in REGISTRY.values():
        found = next((str(d / checkpoint.file_name) for d in cache_dirs()
                      if (d / checkpoint.file_name).is_file()), "-")
        click.echo(f"{checkpoint.name}\t{checkpoint.file_name}\t"
                   f"{checkpoint.hash_description()}\t{checkpoint.licence}\t{found}")


@weights.command("path")
@click.argument("name")
def weights_path(name: str) -> None:
    """Print where checkpoint NAME is (or would be downloaded to); exit 1 if absent."""
    from likeness.nets.weights import REGISTRY, cache_dirs, download_dir

    checkpoint = _registered(name, REGISTRY)
    for folder in cache_dirs():
        if (folder / checkpoint.file_name).is_file():
            click.echo(folder / checkpoint.file_name)
            return
    click.echo(download_dir() / checkpoint.file_name)
    stderr_console().print(f"{name} is not downloaded yet", highlight=False, markup=False)
    sys.exit(1)


@weights.command("download")
@click.argument("names", nargs=-1, required=True)
def weights_download(names: tuple[str, ...]) -> None:
    """Fetch and verify checkpoints NAMES into the cache (nothing if already there)."""
    from likeness.nets.weights import REGISTRY, resolve

    for name in names:
        _registered(name, REGISTRY)
        _run_weights(lambda name=name: resolve(name, progress=_download_bar(name)))


@weights.command("verify")
@click.argument("names", nargs=-1)
def weights_verify(names: tuple[str, ...]) -> None:
    """Check cached checkpoints (all cached ones by default) against their hashes."""
    from likeness.errors import in_callers_words
    from likeness.nets.weights import REGISTRY, cache_dirs, in_the_way, verify

    failed, checked = False, 0
    for name in names or tuple(REGISTRY):
        checkpoint = _registered(name, REGISTRY)
        paths = [d / checkpoint.file_name for d in cache_dirs()
                 if (d / checkpoint.file_name).is_file()]
        odd = in_the_way(checkpoint)
        for what in odd:
            click.echo(f"{name}\tFAILED\t{what}")
        checked += len(paths) + len(odd)
        failed = failed or bool(odd)
        if not paths and not odd and names:
            click.echo(f"{name}\tmissing")
            failed = True
        for path in paths:
            try:
                click.echo(f"{name}\tok\t{verify(checkpoint, path)}\t{path}")
            except LikenessError as error:
                click.echo(f"{name}\tFAILED\t{in_callers_words(str(error))}")
                failed = True
    if not checked and not names:  # nothing to verify is not "all verified"
        folders = " or ".join(str(d) for d in cache_dirs())
        say("error", f"no checkpoint is cached in {folders}, so none was verified; fetch one "
                     "with `likeness weights download NAME`, or import a file fetched "
                     "elsewhere with `likeness weights import FILE`", "weights")
        failed = True
    if failed:
        sys.exit(1)


@weights.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Registry name, if the file was renamed.")
def weights_import(file: Path, name: str | None) -> None:
    """Verify FILE (obtained elsewhere) and copy it into the cache."""
    from likeness.nets.weights import REGISTRY, import_file

    if name is not None:
        _registered(name, REGISTRY, "--name")
    _run_weights(lambda: import_file(file, name))


def _registered(name: str, registry: dict[str, Any], hint: str = "NAME") -> Any:
    if name not in registry:
        raise click.BadParameter(f"{name!r} is not registered; choose from "
                                 f"{', '.join(registry)}", param_hint=hint)
    return registry[name]


def _run_weights(action: Any) -> None:
    try:
        resolved = action()
    except LikenessError as error:
        say("error", str(error), "weights")
        sys.exit(1)
    click.echo(f"{resolved.name}\t{resolved.source}\t{resolved.sha256}\t{resolved.path}")


def _download_bar(name: str) -> Any:
    console = stderr_console()
    last = {"shown": -1}

    def report(done: int, total: int | None) -> None:
        # each 10 %, or each 10 MB when the server did not say how much (once per block)
        step = int(10 * done / total) if total else done // 10_000_000
        if step != last["shown"]:
            last["shown"] = step
            size = f"{done / 1e6:.1f} MB" + (f" of {total / 1e6:.1f} MB" if total else "")
            console.print(f"downloading {name}: {size}", highlight=False, markup=False)

    return report


if __name__ == "__main__":  # pragma: no cover
    main()
