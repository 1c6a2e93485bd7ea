"""chant.toml: finding the project root, defaults, and precise errors for bad settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from chant.config import Config, TemporalProfile, load_config
from chant.errors import ConfigError
from chant.ir import Profile, Retry
from conftest import MakeProject
from unprivileged import unprivileged


@pytest.fixture
def load(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Config]:
    """Write ``text`` as chant.toml, cd into the project and load it."""

    def run(text: str) -> Config:
        root = make_project({"chant.toml": text})
        monkeypatch.chdir(root)
        return load_config(root)

    return run


def error_of(load: Callable[[str], Config], text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(text)
    assert err.value.exit_code == 2
    return str(err.value)


# --- root and defaults -------------------------------------------------------------


def test_the_project_root_is_the_nearest_folder_upward_with_chant_toml(
    make_project: MakeProject,
) -> None:
    root = make_project({"chant.toml": "", "ops/deep/er/x.txt": ""})
    config = load_config(root / "ops" / "deep" / "er")
    assert config.root == root.resolve()
    assert config.file == root.resolve() / "chant.toml"


def test_the_nearest_chant_toml_wins_over_one_further_up(make_project: MakeProject) -> None:
    root = make_project({"chant.toml": "", "sub/chant.toml": '[project]\nops = ["x"]\n'})
    config = load_config(root / "sub")
    assert config.root == (root / "sub").resolve()
    assert config.ops == ("x",)


@pytest.mark.parametrize(
    ("make_it", "error"),
    [
        (
            lambda p: p.symlink_to(p.parent / "gone.toml"),
            "chant.toml: is a broken symbolic link (to {sub}/gone.toml)\n"
            "  hint: point chant.toml at an existing file, or remove it",
        ),
        (
            Path.mkdir,
            "chant.toml: is a folder, not a file\n"
            "  hint: remove or rename chant.toml; chant reads its settings from a regular file",
        ),
        (
            os.mkfifo,
            "chant.toml: is not a regular file\n"
            "  hint: remove or rename chant.toml; chant reads its settings from a regular file",
        ),
    ],
    ids=["broken-link", "folder", "fifo"],
)
def test_a_chant_toml_that_is_no_file_is_an_error_not_skipped_for_a_parents(
    make_project: MakeProject,
    monkeypatch: pytest.MonkeyPatch,
    make_it: Callable[[Path], object],
    error: str,
) -> None:
    # Skipping it would silently load the parent project's chant.toml instead (and a
    # FIFO would hang the read).
    root = make_project({"chant.toml": '[project]\nops = ["x"]\n', "sub/a.op.py": ""})
    sub = root / "sub"
    make_it(sub / "chant.toml")
    monkeypatch.chdir(sub)
    with pytest.raises(ConfigError) as err:
        load_config(sub)
    assert err.value.exit_code == 2
    assert str(err.value) == error.format(sub=sub)


def test_a_chant_toml_symlinked_to_a_file_is_read(make_project: MakeProject) -> None:
    root = make_project({"shared.toml": '[project]\nops = ["x"]\n', "sub/a.op.py": ""})
    (root / "sub" / "chant.toml").symlink_to(root / "shared.toml")
    assert load_config(root / "sub").ops == ("x",)


def test_without_chant_toml_the_start_folder_is_the_root_with_defaults(
    make_project: MakeProject,
) -> None:
    root = make_project({"ops/a.op.py": ""})
    assert load_config(root) == Config(root=root.resolve())


def test_the_defaults_search_the_root_with_no_profiles_and_no_temporal(
    make_project: MakeProject,
) -> None:
    config = load_config(make_project({}))
    assert (config.file, config.ops, dict(config.profiles), config.temporal) == (
        None,
        (".",),
        {},
        None,
    )


def test_an_empty_chant_toml_gives_the_defaults(load: Callable[[str], Config]) -> None:
    config = load("")
    assert (config.ops, dict(config.profiles), config.temporal) == ((".",), {}, None)


def test_project_ops_lists_the_op_folders(load: Callable[[str], Config]) -> None:
    assert load('[project]\nops = ["ops", "more/ops"]\n').ops == ("ops", "more/ops")


# --- profiles ----------------------------------------------------------------------


def test_a_profile_table_becomes_a_named_profile(load: Callable[[str], Config]) -> None:
    config = load(
        """
        [profiles.quick]
        timeout = "30s"
        heartbeat_timeout = "5s"
        retry = { max_attempts = 2, initial_interval = "1s", backoff_coefficient = 3.0, maximum_interval = "10s", non_retryable_error_types = ["Nope"] }
        """  # noqa: E501
    )
    assert config.profiles["quick"] == Profile(
        name="quick",
        timeout="30s",
        heartbeat_timeout="5s",
        retry=Retry(
            max_attempts=2,
            initial_interval="1s",
            backoff_coefficient=3.0,
            maximum_interval="10s",
            non_retryable_error_types=["Nope"],
        ),
    )


def test_a_profile_table_leaves_unset_fields_at_their_defaults(
    load: Callable[[str], Config],
) -> None:
    assert load("[profiles.bare]\n").profiles["bare"] == Profile(name="bare")


def test_a_profile_records_where_it_was_declared(load: Callable[[str], Config]) -> None:
    config = load('[project]\nops = ["ops"]\n\n[profiles.quick]\ntimeout = "30s"\n')
    assert config.profiles["quick"].origin == "chant.toml:4"


def test_a_bad_duration_in_a_profile_names_file_line_key_and_form(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '[profiles.quick]\ntimeout = "5 minutes"\n')
    assert message == (
        "chant.toml:2: profiles.quick.timeout: bad duration '5 minutes': "
        "write a number with a unit, e.g. 100ms, 30s, 5m, 1h30m or 2d"
    )


def test_a_bad_retry_duration_names_the_retry_key(load: Callable[[str], Config]) -> None:
    message = error_of(load, '[profiles.quick]\nretry = { initial_interval = "5 minutes" }\n')
    assert message.startswith("chant.toml:2: profiles.quick.retry.initial_interval: ")


# --- unknown keys ------------------------------------------------------------------


def test_an_unknown_top_level_table_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '[project]\nops = ["ops"]\n\n[tempral]\nx = 1\n')
    assert message == (
        'chant.toml:4: unknown key "tempral"\n'
        "  hint: chant.toml has the tables [project], [profiles.*], [environments.*] "
        "and [temporal]"
    )


def test_an_unknown_top_level_key_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '# settings\nops = ["ops"]\n')
    assert message == (
        'chant.toml:2: unknown key "ops"\n'
        "  hint: chant.toml has the tables [project], [profiles.*], [environments.*] "
        "and [temporal]"
    )


def test_an_unknown_key_in_project_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '[project]\nops = ["ops"]\nop_dirs = ["x"]\n')
    assert message == (
        'chant.toml:3: unknown key "op_dirs" in [project]\n'
        "  hint: allowed keys: ops, activities, name"
    )


def test_an_unknown_key_in_a_profile_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '[profiles.quick]\ntimeout = "30s"\nretries = 3\n')
    assert message == (
        'chant.toml:3: unknown key "retries" in [profiles.quick]\n'
        "  hint: allowed keys: timeout, heartbeat_timeout, retry"
    )


def test_an_unknown_key_in_a_profile_retry_is_named_with_its_own_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(
        load, '[profiles.quick]\ntimeout = "30s"\nretry = { max_attempts = 2, initial = "1s" }\n'
    )
    assert message.startswith('chant.toml:3: unknown key "initial" in [profiles.quick')


def test_an_unknown_key_in_temporal_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(load, '[temporal]\ndefault_profile = "dev"\nadress = "x"\n')
    assert message == (
        'chant.toml:3: unknown key "adress" in [temporal]\n'
        "  hint: allowed keys: default_profile, profiles"
    )


def test_an_unknown_key_in_a_temporal_profile_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    message = error_of(
        load,
        '[temporal]\ndefault_profile = "dev"\n[temporal.profiles.dev]\n'
        'address = "127.0.0.1:7233"\nnamspace = "default"\n',
    )
    assert message == (
        'chant.toml:5: unknown key "namspace" in [temporal.profiles.dev]\n'
        "  hint: allowed keys: address, namespace, task_queue, auto_start, tls, api_key_env"
    )


def test_every_unknown_key_is_reported_in_one_pass(load: Callable[[str], Config]) -> None:
    message = error_of(load, '[project]\nopz = ["ops"]\n\n[profiles.quick]\ntimout = "30s"\n')
    assert '"opz"' in message
    assert '"timout"' in message


# --- malformed values --------------------------------------------------------------


def test_project_ops_that_is_not_a_list_is_named_with_file_and_line(
    load: Callable[[str], Config],
) -> None:
    assert error_of(load, '[project]\nops = "ops"\n') == (
        "chant.toml:2: project.ops must be a list of folder names"
    )


def test_invalid_toml_is_reported_with_file_and_line(load: Callable[[str], Config]) -> None:
    message = error_of(load, '[project]\nops = ["ops"]\n[profiles\n')
    assert message.startswith("chant.toml:3: not valid TOML: ")
    assert message.endswith("\n  hint: see docs/cli.md for the chant.toml format")


# --- temporal ----------------------------------------------------------------------


def test_a_temporal_table_is_read_with_its_profiles(load: Callable[[str], Config]) -> None:
    config = load(
        """
        [temporal]
        default_profile = "cloud"
        [temporal.profiles.dev]
        address = "127.0.0.1:7233"
        auto_start = true
        [temporal.profiles.cloud]
        address = "acme.a1b2c.tmprl.cloud:7233"
        namespace = "acme.a1b2c"
        tls = true
        api_key_env = "TEMPORAL_API_KEY"
        """
    )
    assert config.temporal is not None
    assert config.temporal.default_profile == "cloud"
    assert config.temporal.profiles["cloud"] == TemporalProfile(
        name="cloud",
        address="acme.a1b2c.tmprl.cloud:7233",
        namespace="acme.a1b2c",
        task_queue=f"chant-{config.project_id}",  # the project's own, as none is set
        tls=True,
        api_key_env="TEMPORAL_API_KEY",
    )
    assert config.temporal.profiles["dev"].auto_start is True


def test_an_empty_temporal_table_means_a_local_dev_server(load: Callable[[str], Config]) -> None:
    config = load("[temporal]\n")
    assert config.temporal is not None
    assert config.temporal.default_profile == "dev"
    assert config.temporal.profiles["dev"] == TemporalProfile(
        name="dev", auto_start=True, task_queue=f"chant-{config.project_id}"
    )


def test_the_project_id_is_the_folders_name_and_a_hash_of_its_path_or_project_name(
    load: Callable[[str], Config],
) -> None:
    import hashlib

    config = load('[temporal]\n[temporal.profiles.dev]\ntask_queue = "mine"\n')
    digest = hashlib.sha256(str(config.root).encode()).hexdigest()[:6]
    assert config.project_id == f"proj-{digest}"
    assert config.temporal is not None
    assert config.temporal.profiles["dev"].task_queue == "mine"  # set: kept
    named = load('[project]\nname = "shop"\n[temporal]\n')
    assert named.project_id == "shop"
    assert named.temporal is not None
    assert named.temporal.profiles["dev"].task_queue == "chant-shop"


def test_an_undefined_temporal_default_profile_is_named_with_the_fix(
    load: Callable[[str], Config],
) -> None:
    message = error_of(
        load, '[temporal]\ndefault_profile = "prod"\n[temporal.profiles.dev]\naddress = "x:1"\n'
    )
    assert message == (
        'chant.toml:2: temporal.default_profile "prod" is not defined\n'
        "  hint: define [temporal.profiles.prod] or pick one of: dev"
    )


# --- value types -------------------------------------------------------------------


def test_a_non_integer_max_attempts_is_a_config_error(load: Callable[[str], Config]) -> None:
    assert error_of(load, '[profiles.quick]\nretry = { max_attempts = "two" }\n') == (
        "chant.toml:2: profiles.quick.retry.max_attempts must be an integer (0 = unlimited), "
        "got 'two'"
    )


def test_a_non_numeric_backoff_coefficient_is_a_config_error(
    load: Callable[[str], Config],
) -> None:
    assert error_of(load, '[profiles.quick]\nretry = { backoff_coefficient = "x" }\n') == (
        "chant.toml:2: profiles.quick.retry.backoff_coefficient must be a number, got 'x'"
    )


def test_non_retryable_error_types_must_be_a_list_of_strings(
    load: Callable[[str], Config],
) -> None:
    assert error_of(load, '[profiles.q]\nretry = { non_retryable_error_types = "ABC" }\n') == (
        "chant.toml:2: profiles.q.retry.non_retryable_error_types must be a list of strings, "
        "got 'ABC'"
    )


def test_temporal_profile_values_are_type_checked(load: Callable[[str], Config]) -> None:
    message = error_of(
        load, '[temporal]\n[temporal.profiles.dev]\nauto_start = "yes"\nnamespace = 1\n'
    )
    assert message == (
        "2 problems in chant.toml:\n"
        "chant.toml:3: temporal.profiles.dev.auto_start must be true or false, got 'yes'\n"
        "chant.toml:4: temporal.profiles.dev.namespace must be a non-empty string, got 1"
    )


# --- values that cannot work, and files that are not text ------------------------

BOUNDS_HINT = "\n  hint: docs/ops.md lists each profile field and its bounds"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[profiles.q]\nretry = { backoff_coefficient = nan }\n",
            "chant.toml:2: profiles.q.retry.backoff_coefficient: must be from 1 to 100, got nan",
        ),
        (
            "[profiles.q]\nretry = { backoff_coefficient = inf }\n",
            "chant.toml:2: profiles.q.retry.backoff_coefficient: must be from 1 to 100, got inf",
        ),
        (
            "[profiles.q]\nretry = { backoff_coefficient = 0.5 }\n",
            "chant.toml:2: profiles.q.retry.backoff_coefficient: must be from 1 to 100, got 0.5",
        ),
        (
            "[profiles.q]\nretry = { backoff_coefficient = 1e308 }\n",
            "chant.toml:2: profiles.q.retry.backoff_coefficient: must be from 1 to 100, got 1e+308",
        ),
        (
            "[profiles.q]\nretry = { max_attempts = -1 }\n",
            "chant.toml:2: profiles.q.retry.max_attempts: must be 0 (unlimited) to 2147483647, "
            "got -1",
        ),
        (
            "[profiles.q]\nretry = { max_attempts = 9223372036854775807 }\n",
            "chant.toml:2: profiles.q.retry.max_attempts: must be 0 (unlimited) to 2147483647, "
            "got 9223372036854775807",
        ),
        (
            '[profiles.q]\nretry = { initial_interval = "10s", maximum_interval = "1s" }\n',
            "chant.toml:2: profiles.q.retry.maximum_interval: '1s' is shorter than "
            "initial_interval '10s'",
        ),
        (
            '[profiles.q]\ntimeout = "99999999999d"\n',
            "chant.toml:2: profiles.q.timeout: duration '99999999999d' is longer than the "
            "limit of 36500d (100 years)",
        ),
        (
            '[profiles.q]\n\nheartbeat_timeout = "0ms"\n',
            "chant.toml:3: profiles.q.heartbeat_timeout: '0ms' must be at least 1ms",
        ),
    ],
    ids=[
        "backoff-nan",
        "backoff-inf",
        "backoff-below-1",
        "backoff-1e308",
        "attempts-negative",
        "attempts-int64",
        "maximum-below-initial",
        "timeout-over-100-years",
        "heartbeat-zero",
    ],
)
def test_a_profile_value_that_cannot_work_names_file_line_and_key(
    text: str, message: str, load: Callable[[str], Config]
) -> None:
    # A duration that cannot be read says how to write one instead of the bounds hint.
    hint = "" if "duration" in message else BOUNDS_HINT
    assert error_of(load, text) == message + hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[temporal]\ndefault_profile = []\n",
            "chant.toml:2: temporal.default_profile must be a profile name, got []\n"
            "  hint: pick one of: dev",
        ),
        (
            "[temporal]\ndefault_profile = 5\n",
            "chant.toml:2: temporal.default_profile must be a profile name, got 5\n"
            "  hint: pick one of: dev",
        ),
        (
            '[temporal.profiles.dev]\naddress = ""\n',
            "chant.toml:2: temporal.profiles.dev.address must be a non-empty string, got ''",
        ),
        (
            '[temporal.profiles.dev]\ntask_queue = "a\\nb"\n',
            "chant.toml:2: temporal.profiles.dev.task_queue must be a non-empty string, "
            "got 'a\\nb'",
        ),
        (
            '[project]\nops = ["a\\u0000b"]\n',
            "chant.toml:2: project.ops must be a list of folder names",
        ),
        (
            '[project]\nactivities = ["my acts"]\n',
            'chant.toml:2: project.activities: "my acts" is not a module name\n'
            '  hint: write dotted Python module names, e.g. ["deploy_activities"]',
        ),
        (
            '[environments.prod]\nobserve = ["kubectl\\u0000"]\n',
            "2 problems in chant.toml:\n"
            "chant.toml:2: environments.prod.observe must be a list of strings, "
            "got ['kubectl\\x00']\n"
            "chant.toml:2: environments.prod.observe must name a command",
        ),
        (
            "[environments]\nprod = 5\n",
            "chant.toml: [environments.prod] must be a table",
        ),
        (
            "[project]\nops = []\n",
            "chant.toml:2: project.ops lists no folder, so no Op could be found\n"
            '  hint: write ops = ["ops"], or leave it out to search the project root',
        ),
    ],
    ids=[
        "default-profile-a-list",
        "default-profile-a-number",
        "empty-address",
        "task-queue-newline",
        "ops-nul",
        "activities-not-a-module",
        "observe-nul",
        "environment-not-a-table",
        "ops-empty",
    ],
)
def test_a_wrong_type_anywhere_in_chant_toml_names_the_key(
    text: str, message: str, load: Callable[[str], Config]
) -> None:
    assert error_of(load, text) == message


_ENV_HINT = (
    "\n  hint: snapshots are kept in .chant/state/<name>/: use a plain name such as "
    "[environments.staging]"
)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ('[environments.".."]', "chant.toml:1: environment name '..' cannot be a folder name"),
        ('[environments."a/b"]', "chant.toml:1: environment name 'a/b' holds a path separator"),
        (
            '[environments."a\\\\b"]',
            "chant.toml:1: environment name 'a\\\\b' holds a path separator",
        ),
        ('[environments.""]', "chant.toml:1: environment name '' cannot be a folder name"),
        (
            '[environments."e' + "é" * 101 + '"]',
            "chant.toml:1: environment name 'e" + "é" * 58 + "… is 203 bytes long, "
            "over the limit of 200",
        ),
    ],
    ids=["dot-dot", "slash", "backslash", "empty", "too-long-in-utf8"],
)
def test_an_environment_name_that_cannot_be_a_folder_is_a_config_error(
    header: str, message: str, load: Callable[[str], Config]
) -> None:
    # Before, the run got as far as observing the environment, then failed to write
    # .chant/state/<name>/ (or refused ".." at run time).
    assert error_of(load, header + '\nobserve = ["true"]\n') == message + _ENV_HINT


def test_an_environment_name_of_200_utf8_bytes_is_accepted(load: Callable[[str], Config]) -> None:
    name = "é" * 100
    assert list(load(f'[environments."{name}"]\nobserve = ["true"]\n').environments) == [name]


def test_a_chant_toml_that_is_not_utf8_names_file_line_and_fix(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({})
    (root / "chant.toml").write_bytes(b'[project]\nops = ["ops"]\n# caf\xe9\n')
    monkeypatch.chdir(root)
    with pytest.raises(ConfigError) as err:
        load_config(root)
    assert str(err.value) == (
        "chant.toml:3: is not UTF-8 text (byte 0xe9 at offset 29)\n  hint: save chant.toml as UTF-8"
    )


def test_an_unreadable_chant_toml_is_a_config_error(make_project: MakeProject) -> None:
    # A real chant process that the file's mode applies to, even when the tests run as root.
    root = make_project({"chant.toml": "", "hello.op.py": ""})
    (root / "chant.toml").chmod(0)
    try:
        ran = unprivileged(["list"], cwd=root)
    finally:
        (root / "chant.toml").chmod(0o644)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "chant: error: chant.toml: cannot be read: Permission denied\n"
        "  hint: make chant.toml a readable file\n"
    )
