"""The client's parts that need no server: calls, event parsing, configuration, exit codes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from app.client import AsyncNoxClient, NoxClient, calls
from app.client.cli import EXIT_STOPPED, EXIT_TIMEOUT, exit_code_of
from app.client.config import DEFAULT_URL, ClientConfig, ConfigError
from app.client.events import Cancelled, Failed, Finished, Output, SseParser
from app.sandbox.interface import RunPublic, RunStatus

RESULT = {
    "status": "ok",
    "exit_code": 0,
    "signal": None,
    "stdout": "",
    "stderr": "",
    "truncated": False,
    "timed_out": False,
    "duration_ms": 1.0,
}


def _parse(text: str) -> list[object]:
    parser = SseParser()
    return [e for line in text.split("\n") if (e := parser.feed(line)) is not None]


def test_sse_events_comments_ids_and_unknown_names() -> None:
    stream = (
        ": heartbeat\n\n"
        'id: 4\nevent: stdout\ndata: {"text":"a\\nb"}\n\n'
        'event: stderr\ndata:{"text":"e"}\n\n'
        'event: novelty\ndata: {"x":1}\n\n'
        f"event: result\ndata: {__import__('json').dumps(RESULT)}\n\n"
    )
    events = _parse(stream)
    assert events[0] == Output("stdout", "a\nb", 4)
    assert events[1] == Output("stderr", "e", None)
    assert isinstance(events[2], Finished) and events[2].result.status is RunStatus.ok
    assert len(events) == 3  # the unknown event is skipped, not fatal


def test_sse_error_and_cancelled() -> None:
    problem = '{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"gone"}'
    failed, cancelled = _parse(f"event: error\ndata: {problem}\n\nevent: cancelled\ndata: {{}}\n\n")
    assert isinstance(failed, Failed) and failed.error.status == 503
    assert failed.error.detail == "gone"
    assert isinstance(cancelled, Cancelled)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"status": "error", "exit_code": 3}, 3),
        ({"status": "killed", "exit_code": None, "signal": 9}, 137),
        ({"status": "timeout", "exit_code": None, "signal": 9}, EXIT_TIMEOUT),
        ({"status": "memory_limit", "exit_code": None, "signal": None}, EXIT_STOPPED),
    ],
)
def test_exit_codes_follow_the_shell(fields: dict[str, object], code: int) -> None:
    assert exit_code_of(RunPublic.model_validate(RESULT | fields)) == code


def test_configuration_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "client.toml"
    config.write_text('url = "https://file.example/"\ntoken = "from-file"\n')
    config.chmod(0o600)
    monkeypatch.delenv("NOX_URL", raising=False)
    monkeypatch.delenv("NOX_TOKEN", raising=False)
    assert ClientConfig.resolve(path=config) == ClientConfig("https://file.example", "from-file")
    monkeypatch.setenv("NOX_TOKEN", "from-env")
    assert ClientConfig.resolve(path=config).token == "from-env"
    assert ClientConfig.resolve(token="flag", path=config).token == "flag"
    assert ClientConfig.resolve(path=tmp_path / "missing.toml").url == DEFAULT_URL


def test_a_config_file_others_can_read_or_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text('token = "secret"\n')
    config.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        ClientConfig.resolve(path=config)
    config.write_text('url = "x"\ntokne = "typo"\n')
    with pytest.raises(ConfigError, match="unknown keys"):
        ClientConfig.resolve(path=config)


def _call_names() -> list[str]:
    return [
        name
        for name, function in vars(calls).items()
        if inspect.isfunction(function)
        and not name.startswith("_")
        and function.__module__ == calls.__name__
        and inspect.signature(function).return_annotation.startswith("Call[")
    ]


@pytest.mark.parametrize("client", [NoxClient, AsyncNoxClient])
def test_each_call_is_a_client_method_with_its_parameters(client: type[object]) -> None:
    names = _call_names()
    assert {"run", "stream", "submit", "follow", "put_file", "revoke_token"} <= set(names)
    for name in names:
        method = getattr(client, name)
        call_parameters = list(inspect.signature(getattr(calls, name)).parameters.values())
        assert list(inspect.signature(method).parameters.values())[1:] == call_parameters, name
        if client is AsyncNoxClient and name not in ("stream", "follow"):
            assert inspect.iscoroutinefunction(method), name


def test_run_options_fill_the_body_and_the_wait() -> None:
    call = calls.run("python", "print(1)", stdin="in", args=["a"], timeout_s=2.5)
    assert call.json == {"stdin": "in", "code": "print(1)", "args": ["a"], "timeout_s": 2.5}
    assert call.timeout_s == 62.5
    assert calls.run_shell("true").json == {"stdin": "", "script": "true"}
    assert calls.stream("shell", "true").headers == {"Accept": "text/event-stream"}
    assert calls.submit("python", "1", timeout_s=3).json == {
        "stdin": "",
        "code": "1",
        "args": [],
        "timeout_s": 3,
        "language": "python",
    }
    with pytest.raises(ValueError, match="shell runs take no arguments"):
        calls.run("shell", "echo", args=["x"])
