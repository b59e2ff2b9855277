"""Settings: defaults, then the file, then the environment, then explicit options."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsrelay.config import ConfigError, Settings, load_settings


def test_defaults_listen_on_loopback_with_a_local_database() -> None:
    settings = load_settings(environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.database == "sqlite:///var/smsrelay.db"
    assert settings.language == "fr"


def test_file_then_environment_then_options(tmp_path: Path) -> None:
    path = tmp_path / "smsrelay.toml"
    path.write_text('port = 9000\nlanguage = "en"\n[simulator]\nseed = 7\ntime_scale = 10.0\n')
    env = {"SMSRELAY_PORT": "9100", "SMSRELAY_SIMULATOR_SEED": "8"}
    settings = load_settings(path, environ=env, port=None, host="127.0.0.2")
    assert settings.port == 9100
    assert settings.language == "en"
    assert settings.host == "127.0.0.2"
    assert (settings.simulator.seed, settings.simulator.time_scale) == (8, 10.0)


def test_config_file_may_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "smsrelay.toml"
    path.write_text("max_body_bytes = 2048\n")
    assert load_settings(environ={"SMSRELAY_CONFIG": str(path)}).max_body_bytes == 2048


@pytest.mark.parametrize(
    "content", ['port = "many"', "unknown_setting = 1", 'language = "de"', "[simulator]\nx = 1"]
)
def test_invalid_settings_are_refused_at_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "smsrelay.toml"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_settings(path, environ={})


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml", environ={})


def test_settings_is_one_immutable_object() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_no_price_file_is_named_unless_the_settings_name_one() -> None:
    assert load_settings(environ={}).prices_file == ""
    named = load_settings(environ={"SMSRELAY_PRICES_FILE": "/etc/smsrelay/prices.toml"})
    assert named.prices_file == "/etc/smsrelay/prices.toml"


def test_stop_mention_defaults_to_the_french_opt_out_text() -> None:
    assert load_settings(environ={}).stop_mention == "STOP au 36180"


def test_a_connector_with_no_throughput_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[connectors]]\nname = "a"\nsystem_id = "x"\nthroughput = 0\n')
    with pytest.raises(ConfigError, match="throughput"):
        load_settings(config, environ={})


def test_two_fallback_connectors_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[[connectors]]\nname = "a"\nsystem_id = "x"\nfallback = true\n'
        '[[connectors]]\nname = "b"\nsystem_id = "y"\nfallback = true\n'
    )
    with pytest.raises(ConfigError, match="fallback"):
        load_settings(config, environ={})


def test_a_connector_reads_its_source_rules_and_keeps_the_other_defaults(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[[connectors]]\nname = "a"\nsystem_id = "x"\n'
        "[connectors.source_rules]\nshort_code = [0, 1]\nshort_code_digits = 5\n"
    )
    [connector] = load_settings(config, environ={}).connectors
    rules = connector.source_rules
    assert (rules.short_code, rules.short_code_digits) == ((0, 1), 5)
    assert (rules.international, rules.alphanumeric) == ((1, 1), (5, 0))


def test_a_source_ton_outside_smpp_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[[connectors]]\nname = "a"\nsystem_id = "x"\n'
        "[connectors.source_rules]\nshort_code = [9, 0]\n"
    )
    with pytest.raises(ConfigError, match="short_code"):
        load_settings(config, environ={})


def test_connections_are_bounded_by_default() -> None:
    settings = load_settings(environ={})
    assert (settings.header_timeout, settings.body_timeout) == (10.0, 30.0)
    assert (settings.keepalive_timeout, settings.max_connections) == (5.0, 1000)


def test_connection_bounds_come_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "SMSRELAY_HEADER_TIMEOUT": "2.5",
            "SMSRELAY_BODY_TIMEOUT": "60",
            "SMSRELAY_KEEPALIVE_TIMEOUT": "0.5",
            "SMSRELAY_MAX_CONNECTIONS": "50",
        }
    )
    assert (settings.header_timeout, settings.body_timeout) == (2.5, 60.0)
    assert (settings.keepalive_timeout, settings.max_connections) == (0.5, 50)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HEADER_TIMEOUT", "0"),
        ("BODY_TIMEOUT", "-1"),
        ("KEEPALIVE_TIMEOUT", "0"),
        ("KEEPALIVE_TIMEOUT", "-0.5"),
        ("MAX_CONNECTIONS", "0"),
    ],
)
def test_a_connection_bound_that_cannot_hold_is_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.lower()):
        load_settings(environ={f"SMSRELAY_{name}": value})
