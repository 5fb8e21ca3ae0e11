# SPDX-License-Identifier: Apache-2.0
"""Bad usage: exit 125 and one line on stderr that names the problem; --check; json logs."""

import json
import pathlib
import signal

import pytest

from support.lameduck_proc import run_lameduck

BAD_USAGE = [
    # (argv, env, words the message must contain)
    (["--bogus", "--", "true"], {}, ["--bogus"]),
    (["--delay", "soon", "--", "true"], {}, ["--delay", "soon"]),
    (["--delay", "2d", "--", "true"], {}, ["--delay", "2d"]),
    (["--kill-after", "-1", "--", "true"], {}, ["--kill-after", "-1"]),
    (["--max-delay", "x", "--", "true"], {}, ["--max-delay", "x"]),
    (["--orphan-grace", "1x", "--", "true"], {}, ["--orphan-grace", "1x"]),
    (["--signal", "NOPE", "--", "true"], {}, ["--signal", "NOPE"]),
    (["--signal", "0", "--", "true"], {}, ["--signal", "0"]),
    (["--rewrite", "USR1", "--", "true"], {}, ["--rewrite", "USR1"]),
    (["--rewrite", "NOPE:USR1", "--", "true"], {}, ["--rewrite", "NOPE"]),
    (["--rewrite", "USR1:NOPE", "--", "true"], {}, ["--rewrite", "NOPE"]),
    (["--rewrite", "KILL:TERM", "--", "true"], {}, ["--rewrite", "SIGKILL"]),
    (["--rewrite", "CHLD:TERM", "--", "true"], {}, ["--rewrite", "SIGCHLD"]),
    (["--rewrite", "TERM:0", "--", "true"], {}, ["--rewrite", "TERM"]),
    (["-e", "300", "--", "true"], {}, ["300"]),
    (["-e", "abc", "--", "true"], {}, ["abc"]),
    (["--"], {}, ["no command"]),
    (["--delay", "1s"], {}, ["no command"]),
    (["--log-format", "xml", "--", "true"], {}, ["--log-format", "xml"]),
    (["--log-level", "loud", "--", "true"], {}, ["--log-level", "loud"]),
    (["version", "extra"], {}, ["version"]),
    (["--delay"], {}, ["--delay"]),
    (["--", "true"], {"LAMEDUCK_DELAY": "soon"}, ["delay", "soon"]),
    (["--", "true"], {"LAMEDUCK_SIGNAL": "NOPE"}, ["signal", "NOPE"]),
    (["--", "true"], {"LAMEDUCK_LOG_FORMAT": "xml"}, ["log-format", "xml"]),
]


@pytest.mark.parametrize("argv,env,words", BAD_USAGE,
                         ids=[" ".join(a) + (f" {e}" if e else "") for a, e, _ in BAD_USAGE])
def test_bad_usage_gives_125_and_one_line(argv, env, words, tmp_path):
    marker = tmp_path / "ran"
    # The command ("true" above) would leave a mark if it ran.
    argv = [*argv[:-1], "sh", "-c", f"touch {marker}"] if argv[-1:] == ["true"] else argv
    result = run_lameduck(argv, env=env)
    assert result.code == 125, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    line = result.stderr_lines[0]
    assert line.startswith("lameduck: ")
    for word in words:
        assert word in line, line
    assert result.stdout == ""
    assert not marker.exists()


def test_bad_usage_never_runs_the_command(tmp_path):
    marker = tmp_path / "ran"
    result = run_lameduck(["--delay", "soon", "--", "sh", "-c", f"touch {marker}"])
    assert result.code == 125
    assert not marker.exists()


@pytest.mark.parametrize("argv,code", [
    (["sh", "-c", "exit 4"], 4),
    (["--delay", "1s", "sh", "-c", "exit 5"], 5),
    (["-e", "3", "sh", "-c", "exit 3"], 0),
])
def test_command_without_separator(argv, code):
    # Everything from the first word that is not an option on belongs to the command.
    result = run_lameduck(argv)
    assert result.code == code, result.stderr


def test_log_level_off_is_silent(echo_app):
    ld, echo = echo_app(["--log-level", "off", "--kill-after", "0.2s"])
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 137
    assert result.stderr == ""


def test_log_level_warn_keeps_only_warnings(echo_app):
    ld, echo = echo_app(["--log-level", "warn", "--kill-after", "0.2s"])
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 137
    assert len(result.stderr_lines) == 1, result.stderr
    assert "sent SIGKILL" in result.stderr and " info: " not in result.stderr


def test_help_exits_0():
    result = run_lameduck(["--help"])
    assert result.code == 0
    for option in ("--delay", "--max-delay", "--signal", "--rewrite", "--kill-after", "--group",
                   "--subreaper", "--success-exit-code", "--orphan-grace", "--log-format",
                   "--log-level", "--check", "LAMEDUCK_DELAY", "--quiet auto|DURATION",
                   "--pooled-peer CIDR", "LAMEDUCK_POOLED_PEERS"):
        assert option in result.stdout


def test_version():
    result = run_lameduck(["version"])
    assert result.code == 0
    assert result.stdout.startswith("lameduck ")


def test_check_does_not_run_the_command(tmp_path):
    marker = tmp_path / "ran"
    result = run_lameduck(["--check", "--delay", "5s", "--", "sh", "-c", f"touch {marker}"])
    assert result.code == 0, result.stderr
    assert not marker.exists()


def test_check_reports_bad_options():
    result = run_lameduck(["--check", "--delay", "soon", "--", "true"])
    assert result.code == 125
    assert len(result.stderr_lines) == 1


@pytest.mark.parametrize("command", ["/nonexistent/app", "not-executable"])
def test_check_is_parse_only(command, tmp_path):
    # --check validates manifests on machines that do not have the image's COMMAND
    # (tests/integration/test_examples.py): it parses the options and never looks at it.
    if command == "not-executable":
        command = str(tmp_path / command)
        pathlib.Path(command).write_text("#!/bin/sh\n")
    result = run_lameduck(["--check", "--", command])
    assert result.code == 0
    assert result.stderr == ""


# --------------------------------------------------------------------------------------
# --log-format json
# --------------------------------------------------------------------------------------

def assert_all_json(stderr: str) -> list[dict]:
    records = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not JSON: {line!r}\nall of stderr:\n{stderr}")
        assert isinstance(record, dict), line
        for key in ("time", "level", "msg"):
            assert key in record, line
        assert isinstance(record["msg"], str)
        records.append(record)
    return records


@pytest.mark.parametrize("mode", ["plain", "pid1"])
def test_json_logs_for_a_whole_run(echo_app, mode):
    # A drain, a forwarded signal, a kill-after escalation, a leftover daemon, debug lines.
    ld, echo = echo_app(["--log-format", "json", "--log-level", "debug", "--delay", "0.2s",
                         "--kill-after", "0.5s", "--orphan-grace", "0.3s"],
                        "--daemon", "-1", "--orphans", "2", mode=mode, ready=("daemon", "main"))
    ld.signal(signal.SIGUSR1)
    echo.wait_signal(signal.SIGUSR1)
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 137
    records = assert_all_json(result.stderr)
    levels = {r["level"] for r in records}
    assert {"debug", "info"} <= levels
    assert any(r["level"].startswith("warn") for r in records)
    assert any("sent SIGKILL" in r["msg"] for r in records)
    assert records[-1]["msg"].endswith("exiting with 137")


def test_json_logs_from_env(echo_app):
    ld, echo = echo_app([], "--exit-on", "TERM:0", env={"LAMEDUCK_LOG_FORMAT": "json"})
    ld.signal(signal.SIGTERM)
    result = ld.wait()
    assert result.code == 0
    assert len(assert_all_json(result.stderr)) >= 2


def test_json_time_is_utc_iso8601(echo_app):
    ld, echo = echo_app(["--log-format", "json"], "--exit-on", "TERM:0")
    ld.signal(signal.SIGTERM)
    for record in assert_all_json(ld.wait().stderr):
        assert record["time"].endswith("Z")
        assert record["time"][10] == "T"


@pytest.mark.parametrize("command,code", [("/nonexistent/app", 127), ("/", 126)])
def test_json_logs_for_spawn_errors(command, code):
    # Errors after the options were parsed follow --log-format too.
    result = run_lameduck(["--log-format", "json", "--", command])
    assert result.code == code
    records = assert_all_json(result.stderr)
    assert any(command in r["msg"] for r in records)


# --------------------------------------------------------------------------------------
# issue 15: values and text
# --------------------------------------------------------------------------------------

MORE_BAD_USAGE = [
    (["--signal", "STOP", "--", "true"], {}, ["--signal", "SIGSTOP", "suspends"]),
    (["--signal", "TSTP", "--", "true"], {}, ["SIGTSTP"]),
    (["--signal", "TTIN", "--", "true"], {}, ["SIGTTIN"]),
    (["--", "true"], {"LAMEDUCK_SIGNAL": "SIGTTOU"}, ["SIGTTOU"]),
    (["--rewrite", "TERM:STOP", "--", "true"], {}, ["SIGSTOP"]),
    (["--rewrite", "1:32", "--", "true"], {}, ["--rewrite", "32"]),
    (["--rewrite", "33:1", "--", "true"], {}, ["--rewrite", "33"]),
    (["--signal", "65", "--", "true"], {}, ["--signal", "65"]),
    (["--", "true"], {"LAMEDUCK_POD_IP": "notanip"}, ["pod-ip", "notanip"]),
    (["--pod-ip", "10.1.2", "--", "true"], {}, ["--pod-ip", "10.1.2"]),
    (["--api-server", "http://10.0.0.1:6443", "--", "true"], {}, ["--api-server", "https://"]),
    (["--check", "--", "true"], {"LAMEDUCK_API_SERVER": "http://kubernetes"}, ["https://"]),
    # issue 20
    (["--quiet", "soon", "--", "true"], {}, ["--quiet", "soon", "auto"]),
    (["--", "true"], {"LAMEDUCK_QUIET": "automatic"}, ["--quiet", "automatic"]),
    (["--pooled-peer", "10.0.0.0/40", "--", "true"], {}, ["--pooled-peer", "10.0.0.0/40"]),
    (["--", "true"], {"LAMEDUCK_POOLED_PEERS": "10.0.0.1,lb"}, ["--pooled-peer", "'lb'"]),
]


@pytest.mark.parametrize("argv,env,words", MORE_BAD_USAGE,
                         ids=[" ".join(a) + (f" {e}" if e else "") for a, e, _ in MORE_BAD_USAGE])
def test_more_bad_values_give_125_and_one_line(argv, env, words, tmp_path):
    test_bad_usage_gives_125_and_one_line(argv, env, words, tmp_path)


@pytest.mark.parametrize("sub", ["prestop", "endpoints"])
def test_subcommands_check_ips_and_urls(sub):
    for args in (["--pod-ip", "notanip"], ["--api-server", "http://kubernetes"]):
        result = run_lameduck([sub, *args])
        assert result.code == 125, result.stderr
        assert len(result.stderr_lines) == 1, result.stderr


def test_no_arguments_prints_the_short_usage():
    result = run_lameduck([])
    assert result.code == 125
    assert "Usage:" in result.stderr
    assert "lameduck [OPTIONS] -- COMMAND [ARGS...]" in result.stderr
    assert "lameduck prestop" in result.stderr and "lameduck --help" in result.stderr
    assert "--delay" not in result.stderr  # short: the options are in --help
    assert result.stdout == ""


def test_help_has_no_noise():
    out = run_lameduck(["--help"]).stdout
    assert out.count("Usage") == 1, out
    assert "{false}" not in out and "{true}" not in out
    assert "--wait-endpoints, --no-wait-endpoints" in out


def test_trailing_spaces_in_environment_values_are_trimmed(tmp_path):
    # YAML's "value: 2s " keeps the space; so did lameduck, as "invalid duration '2s '".
    env = {"LAMEDUCK_DELAY": "0.1s ", "LAMEDUCK_SIGNAL": "SIGTERM  ", "LAMEDUCK_GROUP": "true ",
           "LAMEDUCK_LOG_LEVEL": "warn ", "LAMEDUCK_POD_IP": "10.0.0.1 , fd00::1 ",
           "LAMEDUCK_SUCCESS_EXIT_CODE": "3 "}
    result = run_lameduck(["--", "sh", "-c", "exit 3"], env=env)
    assert result.code == 0, result.stderr
    assert result.stderr == ""
