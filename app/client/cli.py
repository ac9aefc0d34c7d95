"""``nox remote``: use a Nox server from the shell (run code, move files, manage tokens).

The server and token come from ``--url``/``--token``, ``NOX_URL``/``NOX_TOKEN`` or the client
config file (``app.client.config``). A run's exit code becomes the command's; Nox's own errors
exit with the sysexits code of ``exit_code_for`` and a one-line message.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from app.client.calls import Language, RunOptions
from app.client.config import ClientConfig, ConfigError
from app.client.errors import NoxConnectionError, NoxError
from app.client.events import Cancelled, Failed, Finished, Output, RunEvent
from app.client.sync import NoxClient
from app.sandbox.interface import RunPublic, RunStatus

F = TypeVar("F", bound=Callable[..., Any])

# sysexits(3): what a script can tell apart without parsing messages
EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE = 65, 66, 69, 70
EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 75, 77, 78
EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_STOPPED = 125  # stopped at a limit other than time (memory, output, disk), no exit code


def exit_code_for(error: NoxError) -> int:
    if isinstance(error, NoxConnectionError):
        return EX_UNAVAILABLE
    if error.status in (401, 403):
        return EX_NOPERM
    if error.status == 404:
        return EX_NOINPUT
    if error.status in (400, 409, 413, 422):
        return EX_DATAERR
    if error.status in (429, 503):
        return EX_TEMPFAIL
    return EX_SOFTWARE


def exit_code_of(result: RunPublic) -> int:
    """The program's own exit code; 128+N for signal N; 124 for a timeout."""
    if result.status is RunStatus.timeout:
        return EXIT_TIMEOUT
    if result.exit_code is not None:
        return result.exit_code
    if result.signal is not None:
        return 128 + result.signal
    return EXIT_STOPPED


def _fail(message: str, code: int) -> None:
    click.echo(f"nox: {message}", err=True)
    sys.exit(code)


def handles_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), EX_CONFIG)
        except NoxError as exc:
            hint = f" (retry in {exc.retry_after:g} s)" if exc.retry_after else ""
            where = "" if isinstance(exc, NoxConnectionError) else f"{exc.status} {exc.title}: "
            _fail(f"{where}{exc.detail}{hint}", exit_code_for(exc))

    return wrapper  # type: ignore[return-value]


def _client(ctx: click.Context) -> NoxClient:
    client: NoxClient = ctx.find_root().meta["nox.client"]()
    if not ctx.find_root().meta["nox.token"]:
        raise ConfigError("no token: set NOX_TOKEN, pass --token, or put one in the config file")
    return client


@click.group()
@click.option("--url", envvar=None, default=None, help="the Nox server (default NOX_URL)")
@click.option("--token", default=None, help="an API token (default NOX_TOKEN)")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="client config file (default ~/.config/nox/client.toml)",
)
@click.pass_context
def remote(ctx: click.Context, url: str | None, token: str | None, config: Path | None) -> None:
    """Use a Nox server: run code, move workspace files, manage tokens."""

    def make() -> NoxClient:
        resolved = ClientConfig.resolve(url, token, config)
        ctx.find_root().meta["nox.token"] = resolved.token
        client = NoxClient(resolved.url, resolved.token)
        ctx.call_on_close(client.close)
        return client

    ctx.find_root().meta["nox.client"] = functools.cache(make)
    ctx.find_root().meta["nox.token"] = ""


def _language(path: str, shell: bool, python: bool) -> Language:
    if shell and python:
        raise click.UsageError("--shell and --python exclude each other")
    if shell or python:
        return "shell" if shell else "python"
    return "shell" if path.endswith(".sh") else "python"


def _print_events(events: Iterator[RunEvent]) -> RunPublic:
    for event in events:
        if isinstance(event, Output):
            stream = sys.stdout if event.stream == "stdout" else sys.stderr
            stream.write(event.text)
            stream.flush()
        elif isinstance(event, Finished):
            return event.result
        elif isinstance(event, Failed):
            raise event.error
        elif isinstance(event, Cancelled):
            _fail("the run was cancelled", EX_SOFTWARE)
    raise NoxError(502, "Bad Gateway", "the stream ended without a result")


def _report(result: RunPublic) -> None:
    if result.status not in (RunStatus.ok, RunStatus.error):
        click.echo(f"nox: the run stopped: {result.status.value}", err=True)
    if result.truncated:
        click.echo("nox: output was truncated at the output limit", err=True)


@remote.command()
@click.argument("file", type=click.File("r"))
@click.argument("args", nargs=-1)
@click.option("--shell", is_flag=True, help="run as a shell script (default: by extension)")
@click.option("--python", is_flag=True, help="run as Python (the default for - and .py)")
@click.option("--stdin", "stdin_file", type=click.File("r"), default=None, help="input file")
@click.option("--timeout", type=float, default=None, help="lower the wall-clock limit (s)")
@click.option("--no-stream", is_flag=True, help="wait and print the output at the end")
@click.option("--detach", is_flag=True, help="submit as an asynchronous run; print its id")
@click.pass_context
@handles_errors
def run(
    ctx: click.Context,
    file: Any,
    args: tuple[str, ...],
    shell: bool,
    python: bool,
    stdin_file: Any,
    timeout: float | None,
    no_stream: bool,
    detach: bool,
) -> None:
    """Run FILE (or - for standard input) in your sandbox; exits with the program's code."""
    language = _language(file.name, shell, python)
    source = file.read()
    stdin = stdin_file.read() if stdin_file else ""
    client = _client(ctx)
    options: RunOptions = {"stdin": stdin, "args": list(args) or None, "timeout_s": timeout}
    if detach:
        click.echo(client.submit(language, source, **options).id)
        return
    if no_stream:
        result = client.run(language, source, **options)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    else:
        result = _print_events(client.stream(language, source, **options))
    _report(result)
    sys.exit(exit_code_of(result))


@remote.group()
def job() -> None:
    """Asynchronous runs (started with `run --detach`)."""


@job.command("status")
@click.argument("job_id")
@click.pass_context
@handles_errors
def job_status(ctx: click.Context, job_id: str) -> None:
    """Print the run's state as JSON."""
    click.echo(_client(ctx).job(job_id).model_dump_json(indent=2))


@job.command("follow")
@click.argument("job_id")
@click.pass_context
@handles_errors
def job_follow(ctx: click.Context, job_id: str) -> None:
    """Print the run's output from the start, then exit with its code."""
    result = _print_events(_client(ctx).follow(job_id))
    _report(result)
    sys.exit(exit_code_of(result))


@job.command("cancel")
@click.argument("job_id")
@click.pass_context
@handles_errors
def job_cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a running job (or forget one that ended)."""
    _client(ctx).cancel(job_id)


@remote.group()
def files() -> None:
    """Your workspace files."""


@files.command("put")
@click.argument("local", type=click.File("rb"))
@click.argument("path", required=False)
@click.pass_context
@handles_errors
def files_put(ctx: click.Context, local: Any, path: str | None) -> None:
    """Upload LOCAL (or - for standard input) as PATH (default: its file name)."""
    if path is None:
        if local.name == "-":
            raise click.UsageError("give PATH when reading standard input")
        path = Path(local.name).name
    info = _client(ctx).put_file(path, local.read())
    click.echo(f"{info.path}\t{info.size}")


@files.command("get")
@click.argument("path")
@click.argument("local", type=click.File("wb"), default="-")
@click.pass_context
@handles_errors
def files_get(ctx: click.Context, path: str, local: Any) -> None:
    """Download PATH to LOCAL (default: standard output)."""
    local.write(_client(ctx).get_file(path))


@files.command("ls")
@click.argument("prefix", default="")
@click.pass_context
@handles_errors
def files_ls(ctx: click.Context, prefix: str) -> None:
    """List files (under PREFIX): path and size in bytes, tab-separated."""
    for info in _client(ctx).list_files(prefix):
        click.echo(f"{info.path}\t{info.size}")


@files.command("rm")
@click.argument("paths", nargs=-1, required=True)
@click.pass_context
@handles_errors
def files_rm(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Delete files."""
    client = _client(ctx)
    for path in paths:
        client.delete_file(path)


@remote.group()
def token() -> None:
    """Your API tokens."""


@token.command("create")
@click.option("--name", default="", help="a name to recognise it by")
@click.pass_context
@handles_errors
def token_create(ctx: click.Context, name: str) -> None:
    """Create a token and print it (shown once)."""
    click.echo(_client(ctx).create_token(name).token)


@token.command("list")
@click.pass_context
@handles_errors
def token_list(ctx: click.Context) -> None:
    """id, name, hint, created, revoked — tab-separated."""
    for t in _client(ctx).list_tokens():
        revoked = t.revoked_at.isoformat() if t.revoked_at else "-"
        click.echo(f"{t.id}\t{t.name or '-'}\t{t.hint}\t{t.created_at.isoformat()}\t{revoked}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
@handles_errors
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token by id."""
    _client(ctx).revoke_token(token_id)


@remote.command()
@click.pass_context
@handles_errors
def whoami(ctx: click.Context) -> None:
    """Who the token belongs to."""
    me = _client(ctx).me()
    click.echo(f"{me.email or me.name}\t{me.role}")


def register(main: click.Group) -> None:
    main.add_command(remote)
