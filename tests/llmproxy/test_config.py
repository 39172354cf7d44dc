"""Settings: defaults < TOML file < environment < command-line flags; unknown keys are errors."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from llmproxy.config import ModelProfile, Settings, load_settings, parse_pairs


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "llmproxy.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults() -> None:
    assert load_settings(environ={}) == Settings()


def test_unrelated_environment_is_ignored() -> None:
    env = {"LLMPROXY_FOO": "1", "PORT": "1", "llmproxy_port": "1", "HOME": "/root"}
    assert load_settings(environ=env) == Settings()


def test_empty_environment_values_are_ignored() -> None:
    env = {"LLMPROXY_PORT": "", "LLMPROXY_ALLOW_UPSTREAM": "", "LLMPROXY_MODEL_MAP": ""}
    assert load_settings(environ=env) == Settings()


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in list(os.environ):
        if var.startswith("LLMPROXY_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("LLMPROXY_PORT", "7001")
    assert load_settings().port == 7001


# -- environment parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("http://a:1", ["http://a:1"], id="one"),
        pytest.param("http://a:1,http://b:2", ["http://a:1", "http://b:2"], id="comma"),
        pytest.param("http://a:1 http://b:2", ["http://a:1", "http://b:2"], id="space"),
        pytest.param(
            " http://a:1 ,, http://b:2,\n\thttp://c:3/x ",
            ["http://a:1", "http://b:2", "http://c:3/x"],
            id="mixed-and-empty",
        ),
        pytest.param(" , ", [], id="only-separators"),
    ],
)
def test_env_allow_upstream(value: str, expected: list[str]) -> None:
    assert load_settings(environ={"LLMPROXY_ALLOW_UPSTREAM": value}).allow_upstream == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("gpt-5.5=glm-4.6", {"gpt-5.5": "glm-4.6"}, id="one"),
        pytest.param(
            "gpt-5.5=glm-4.6, o3=kimi-k2 gpt-5=deepseek-chat",
            {"gpt-5.5": "glm-4.6", "o3": "kimi-k2", "gpt-5": "deepseek-chat"},
            id="comma-and-space",
        ),
        pytest.param("a=b=c", {"a": "b=c"}, id="equals-in-value"),
        pytest.param("a=1,a=2", {"a": "2"}, id="last-wins"),
    ],
)
def test_env_model_map(value: str, expected: dict[str, str]) -> None:
    assert load_settings(environ={"LLMPROXY_MODEL_MAP": value}).model_map == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("gpt-5.5", id="no-equals"),
        pytest.param("=glm-4.6", id="no-name"),
        pytest.param("gpt-5.5=", id="no-value"),
        pytest.param("a=b,c", id="second-bad"),
        pytest.param("gpt-5.5 = glm-4.6", id="spaces-around-equals"),
    ],
)
def test_env_model_map_bad_entry(value: str) -> None:
    with pytest.raises(ValueError, match="is not NAME=VALUE"):
        load_settings(environ={"LLMPROXY_MODEL_MAP": value})


def test_parse_pairs() -> None:
    assert parse_pairs("") == {}
    assert parse_pairs("a=b, c=d") == {"a": "b", "c": "d"}


def test_env_upstreams() -> None:
    env = {"LLMPROXY_UPSTREAMS": "zai=https://api.z.ai/api/anthropic,kimi=https://k.example/a"}
    assert load_settings(environ=env).upstreams == {
        "zai": "https://api.z.ai/api/anthropic",
        "kimi": "https://k.example/a",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("2", False),
    ],
)
def test_env_allowlist_only(value: str, expected: bool) -> None:
    assert load_settings(environ={"LLMPROXY_ALLOWLIST_ONLY": value}).allowlist_only is expected


@pytest.mark.parametrize(("value", "port"), [("9000", 9000), ("1", 1), ("65535", 65535)])
def test_env_port(value: str, port: int) -> None:
    assert load_settings(environ={"LLMPROXY_PORT": value}).port == port


@pytest.mark.parametrize(
    ("var", "value"),
    [
        pytest.param("LLMPROXY_PORT", "eighty", id="port-word"),
        pytest.param("LLMPROXY_PORT", "80.5", id="port-float"),
        pytest.param("LLMPROXY_LOG_FORMAT", "xml", id="log-format"),
        pytest.param("LLMPROXY_LOG_LEVEL", "verbose", id="log-level"),
        pytest.param("LLMPROXY_LOG_LEVEL", "DEBUG", id="log-level-case"),
    ],
)
def test_env_invalid_value(var: str, value: str) -> None:
    with pytest.raises(ValueError, match="invalid settings"):
        load_settings(environ={var: value})


def test_env_strings() -> None:
    env = {
        "LLMPROXY_HOST": "0.0.0.0",
        "LLMPROXY_REASONING_KEY": "k3y",
        "LLMPROXY_LOG_FORMAT": "console",
        "LLMPROXY_LOG_LEVEL": "debug",
    }
    got = load_settings(environ=env)
    assert (got.host, got.reasoning_key, got.log_format, got.log_level) == (
        "0.0.0.0",
        "k3y",
        "console",
        "debug",
    )


# -- TOML file -------------------------------------------------------------------------------

FULL_TOML = """
host = "0.0.0.0"
port = 9100
allow_upstream = ["http://127.0.0.1:9100", "http://gw.internal:8080/anthropic"]
allowlist_only = true
log_format = "console"
max_body_bytes = 1024
idle_timeout = 60.5

[model_map]
"gpt-5.5" = "glm-4.6"

[upstreams]
zai = "https://api.z.ai/api/anthropic"

[[models]]
match = "glm-*"
thinking = "none"
max_tokens_limit = 128000
"""


def test_toml_file(tmp_path: Path) -> None:
    got = load_settings(environ={}, config_file=write(tmp_path, FULL_TOML))
    assert got.host == "0.0.0.0"
    assert got.port == 9100
    assert got.allow_upstream == ["http://127.0.0.1:9100", "http://gw.internal:8080/anthropic"]
    assert got.allowlist_only is True
    assert got.log_format == "console"
    assert got.max_body_bytes == 1024
    assert got.idle_timeout == 60.5
    assert got.model_map == {"gpt-5.5": "glm-4.6"}
    assert got.upstreams == {"zai": "https://api.z.ai/api/anthropic"}
    assert got.models == [ModelProfile(match="glm-*", thinking="none", max_tokens_limit=128000)]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("prot = 9000\n", "prot", id="top-level-typo"),
        pytest.param('allow_upstreams = ["http://x:1"]\n', "allow_upstreams", id="plural"),
        pytest.param('[[models]]\nmatch = "x"\nthinkng = "none"\n', "thinkng", id="in-models"),
        pytest.param("[server]\nport = 1\n", "server", id="table"),
    ],
)
def test_toml_unknown_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ValueError, match=f"invalid settings.*{key}"):
        load_settings(environ={}, config_file=write(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('port = "a lot"\n', id="port-type"),
        pytest.param('allow_upstream = "http://x:1"\n', id="list-as-string"),
        pytest.param('log_format = "xml"\n', id="literal"),
        pytest.param('[[models]]\nthinking = "none"\n', id="models-missing-match"),
        pytest.param('[[models]]\nmatch = "x"\nthinking = "lots"\n', id="models-literal"),
    ],
)
def test_toml_invalid_value(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="invalid settings"):
        load_settings(environ={}, config_file=write(tmp_path, text))


def test_toml_syntax_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 1"):
        load_settings(environ={}, config_file=write(tmp_path, "port = = 1\n"))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(environ={}, config_file=str(tmp_path / "nope.toml"))


def test_llmproxy_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9200\n")
    assert load_settings(environ={"LLMPROXY_CONFIG": path}).port == 9200


def test_config_file_argument_beats_llmproxy_config(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.toml"
    chosen.write_text("port = 9300\n")
    env = {"LLMPROXY_CONFIG": str(tmp_path / "does-not-exist.toml")}
    assert load_settings(environ=env, config_file=str(chosen)).port == 9300


# -- precedence: defaults < file < environment < flags ----------------------------------------

LAYERS = list(itertools.product([False, True], repeat=3))


@pytest.mark.parametrize(
    ("in_file", "in_env", "in_flags"),
    LAYERS,
    ids=[f"file={f:d}-env={e:d}-flags={g:d}" for f, e, g in LAYERS],
)
def test_precedence(tmp_path: Path, in_file: bool, in_env: bool, in_flags: bool) -> None:
    file_text = 'host = "file.host"\nport = 1001\nlog_level = "warning"\n' if in_file else ""
    env = (
        {"LLMPROXY_HOST": "env.host", "LLMPROXY_PORT": "1002", "LLMPROXY_LOG_LEVEL": "error"}
        if in_env
        else {}
    )
    flags: dict[str, object] = (
        {"host": "flag.host", "port": 1003, "log_level": "debug"} if in_flags else {}
    )
    got = load_settings(flags, environ=env, config_file=write(tmp_path, file_text))
    if in_flags:
        expected = ("flag.host", 1003, "debug")
    elif in_env:
        expected = ("env.host", 1002, "error")
    elif in_file:
        expected = ("file.host", 1001, "warning")
    else:
        expected = ("127.0.0.1", 8080, "info")
    assert (got.host, got.port, got.log_level) == expected


def test_flags_set_to_none_are_ignored(tmp_path: Path) -> None:
    flags: dict[str, object] = {"host": None, "port": None, "allow_upstream": None}
    got = load_settings(
        flags,
        environ={"LLMPROXY_PORT": "1002", "LLMPROXY_ALLOW_UPSTREAM": "http://env:1"},
        config_file=write(tmp_path, 'host = "file.host"\n'),
    )
    assert (got.host, got.port, got.allow_upstream) == ("file.host", 1002, ["http://env:1"])


def test_allow_upstream_env_replaces_file_and_flags_add_to_it(tmp_path: Path) -> None:
    path = write(tmp_path, 'allow_upstream = ["http://file:1"]\n')
    env = {"LLMPROXY_ALLOW_UPSTREAM": "http://env:1,http://env:2"}
    assert load_settings(environ=env, config_file=path).allow_upstream == [
        "http://env:1",
        "http://env:2",
    ]
    # The flag is repeatable; its values are added to the environment's, not swapped for them.
    got = load_settings({"allow_upstream": ["http://flag:1"]}, environ=env, config_file=path)
    assert got.allow_upstream == ["http://env:1", "http://env:2", "http://flag:1"]
    got = load_settings({"allow_upstream": "http://flag:1"}, environ={}, config_file=path)
    assert got.allow_upstream == ["http://file:1", "http://flag:1"]


def test_upstreams_flags_override_per_name(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[upstreams]\nzai = "https://file.example"\nkimi = "https://k.example"\n'
    )
    env = {"LLMPROXY_UPSTREAMS": "zai=https://env.example"}
    assert load_settings(environ=env, config_file=path).upstreams == {"zai": "https://env.example"}
    flags: dict[str, object] = {"upstreams": {"zai": "https://flag.example", "ds": "https://d.x"}}
    got = load_settings(flags, environ={}, config_file=path)
    assert got.upstreams == {
        "zai": "https://flag.example",
        "kimi": "https://k.example",
        "ds": "https://d.x",
    }


def test_model_map_env_replaces_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[model_map]\na = "file"\nb = "file"\n')
    got = load_settings(environ={"LLMPROXY_MODEL_MAP": "a=env"}, config_file=path)
    assert got.model_map == {"a": "env"}


def test_unknown_flag_is_an_error() -> None:
    with pytest.raises(ValueError, match="invalid settings"):
        load_settings({"prot": 1}, environ={})


def test_settings_reject_unknown_fields() -> None:
    with pytest.raises(TypeError):
        Settings(prot=1)  # type: ignore[call-arg]
