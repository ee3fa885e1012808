"""ASVS 5.0 V13.4.2 (debug off in production) and V13.3 (secrets) through
``portal check-deploy``, which fails on an insecure production configuration."""

from __future__ import annotations

import secrets

import pytest

from portal import create_app
from portal.services.accounts import deployment_problems

GOOD = {
    "ENV": "production",
    "BASE_URL": "https://portaal.example.nl",
    "SECRET_KEY": "k" * 10 + secrets.token_urlsafe(40),
    "SECRET_KEY_FROM_ENV": True,
    "SESSION_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PROXY_COUNT": 1,
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://portal@db.internal/portal",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
    "LOG_LEVEL": "INFO",
}


def _app(tmp_path, **config):
    return create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "INDEX_DIR": str(tmp_path / "index"),
                       "SQLALCHEMY_DATABASE_URI": "sqlite:///" + str(tmp_path / "x.sqlite3"), **config})


def test_v13_4_2_check_deploy_fails_on_a_development_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")  # how debug is switched on for the command line
    app = _app(tmp_path, SECRET_KEY="dev")
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1
    out = result.output
    assert "PROBLEEM PORTAL_ENV is niet 'production'" in out
    assert "Debug staat aan" in out
    assert "ontwikkelsleutel" in out
    assert "SESSION_COOKIE_SECURE staat uit" in out
    assert "PORTAL_PROXY_COUNT is 0" in out
    assert "WAARSCHUWING De database is SQLite" in out
    assert "niet geschikt voor productie" in out


def test_check_deploy_passes_a_production_configuration(tmp_path, monkeypatch):
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", key)
    monkeypatch.setenv("PORTAL_PROXY_COUNT", "1")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portaal.example.nl")
    app = _app(tmp_path)
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 0, result.output
    assert "PROBLEEM" not in result.output
    assert "WAARSCHUWING De database is SQLite" in result.output  # a warning, not a failure


def test_good_configuration_has_no_problems():
    assert deployment_problems(GOOD) == ([], [])


@pytest.mark.parametrize("change, words", [
    ({"ENV": "development"}, "PORTAL_ENV"),
    ({"SECRET_KEY": "changeme"}, "ontwikkelsleutel"),
    ({"SECRET_KEY": "kort-maar-geheim"}, "korter dan 32"),
    ({"SECRET_KEY_FROM_ENV": False}, "niet gezet"),
    ({"DEBUG": True}, "Debug"),
    ({"TESTING": True}, "TESTING"),
    ({"WTF_CSRF_ENABLED": False}, "CSRF"),
    ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE"),
    ({"REMEMBER_COOKIE_SECURE": False}, "REMEMBER_COOKIE_SECURE"),
    ({"SESSION_COOKIE_HTTPONLY": False}, "SESSION_COOKIE_HTTPONLY"),
    ({"SESSION_COOKIE_SAMESITE": None}, "SAMESITE"),
    ({"PROXY_COUNT": 0}, "PORTAL_PROXY_COUNT"),
])
def test_each_insecure_setting_is_an_error(change, words):
    errors, _warnings = deployment_problems({**GOOD, **change})
    assert any(words in e for e in errors), errors


@pytest.mark.parametrize("change, words", [
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:///x"}, "SQLite"),
    ({"RATELIMIT_STORAGE_URI": "memory://"}, "memory://"),
    ({"LOG_LEVEL": "debug"}, "DEBUG"),
])
def test_weaker_settings_are_warnings(change, words):
    errors, warnings = deployment_problems({**GOOD, **change})
    assert errors == []
    assert any(words in w for w in warnings), warnings


def test_v13_4_2_production_refuses_to_start_with_debug_or_a_weak_key(tmp_path):
    from portal.config import InsecureConfiguration

    with pytest.raises(InsecureConfiguration):
        _app(tmp_path, ENV="production", SECRET_KEY="dev")
    with pytest.raises(InsecureConfiguration):
        _app(tmp_path, ENV="production", SECRET_KEY=secrets.token_urlsafe(48), DEBUG=True)


@pytest.mark.parametrize("key", [None, "short", "dev"])
def test_v13_1_1_an_unsafe_production_setup_is_reported_in_words_never_a_traceback(tmp_path, key):
    """`portal check-deploy` exists for exactly the set-ups that start-up
    refuses: it must list their problems, and every other command must
    refuse them in one plain sentence."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_ENV="production", PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
               PORTAL_INDEX_DIR=str(tmp_path / "index"))
    if key is not None:
        env["PORTAL_SECRET_KEY"] = key

    def portal(*args):
        return subprocess.run([sys.executable, "-m", "portal.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    check = portal("check-deploy")
    assert check.returncode == 1, check.stderr
    assert "PROBLEEM" in check.stdout and "PORTAL_SECRET_KEY" in check.stdout
    other = portal("search", "polarisatie")
    assert other.returncode == 1
    assert "PORTAL_SECRET_KEY" in other.stderr and "check-deploy" in other.stderr
    for result in (check, other):
        assert "Traceback" not in result.stdout + result.stderr
