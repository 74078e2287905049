"""Every ``python -m mosei_attn.<cmd> ...`` command that README.md, docs/*.md and sweeps/README.md show
composes with Hydra, with its placeholders (``<run>``, ``...``) replaced by real files, and each of its
overrides lands, with its type, at its key: a documented command can never fail to compose or be silently
ignored. (The other commands they show: tests/test_doc_commands.py.)"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import shlex
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from mosei_attn.synthetic import writer
from tests.conftest import compose_config

REPO = Path(__file__).resolve().parent.parent
#: Every page that shows commands.
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "sweeps" / "README.md"]
#: Hydra entry points and their primary config (conf/<name>.yaml).
HYDRA_COMMANDS = {"train", "evaluate", "predict", "prepare", "dashboard"}
#: argparse entry points: the arguments are parsed by the module's own parser.
ARGPARSE_COMMANDS = {"aggregate", "synthetic"}
#: The function each module's ``__main__`` applies to ``sys.argv`` before Hydra sees it.
ARGV_HOOKS = {
    "train": lambda mod: lambda argv: mod.launch_argv(argv, environ={}),
    "predict": lambda mod: mod.quote_free_text,
    "prepare": lambda mod: mod.hydra_argv,
}
COMMAND = re.compile(r"python -m mosei_attn\.([\w.]+)")
#: Hydra command-line flags that take no part in composing.
RUN_FLAGS = {"-m", "--multirun"}


def _logical_lines(text: str) -> list[str]:
    """Lines of fenced code blocks (backslash continuations joined) and inline code spans."""
    out, block = [], []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if in_code:
                out += _join_continuations(block)
            in_code, block = not in_code, []
        elif in_code:
            block.append(line)
        else:
            out += re.findall(r"`([^`]+)`", line)
    return out


def _join_continuations(lines: list[str]) -> list[str]:
    """Join ``\\`` continuations and expand the block's own shell variables and arrays (the SLURM script)."""
    joined, cur = [], ""
    for line in lines:
        cur += re.sub(r"\s+#.*$", "", line).rstrip()  # a shell comment
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        joined.append(cur)
        cur = ""
    arrays: dict[str, str] = {}
    scalars: dict[str, str] = {}
    out = []
    for line in joined:
        if m := re.match(r"\s*(\w+)=\((.*)\)", line):
            arrays[m[1]] = m[2]
        elif m := re.match(r"\s*(\w+)=(\S+)", line):
            scalars[m[1]] = m[2]
        for name, value in arrays.items():
            line = line.replace(f'"${{{name}[@]}}"', value)
        for name, value in scalars.items():
            line = re.sub(rf"\$\{{?{name}\}}?\b", value, line)
        out.append(re.sub(r"\$\{?\w+\}?", "1", line))  # an environment variable (SLURM_JOB_ID): any value
    return out


def documented_commands() -> list[tuple[str, str, str]]:
    """(where, module, argument string) of every documented ``python -m mosei_attn.<module>`` command."""
    found = []
    for doc in DOCS:
        for line in _logical_lines(doc.read_text()):
            for m in COMMAND.finditer(line):
                args = line[m.end() :].split("`")[0]
                found.append((f"{doc.name}: {line.strip()[:90]}", m[1], args))
    return found


COMMANDS = documented_commands()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Real files and folders the placeholders stand for."""
    run = tmp_path / "lightning_logs" / "train" / "2026-01-01_00-00-00_attention"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("last.ckpt", "epoch001-ua0.5000.ckpt"):
        (run / "checkpoints" / name).write_bytes(b"")
    sweep = tmp_path / "lightning_logs" / "multirun" / "2026-01-01_00-00-00"
    (sweep / "0_attention_seed1" / ".hydra").mkdir(parents=True)
    (sweep / "0_attention_seed1" / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    for name in ("clip.wav", "clips.csv", "calls.csv", "glove.840B.300d.txt", "transcript.txt"):
        (tmp_path / name).write_text("x\n")
    return {"run": str(run), "ckpt": str(run / "checkpoints" / "last.ckpt"), "sweep": str(sweep)}


def substitute(args: str, files: dict[str, str], tmp_path: Path) -> list[str]:
    """The argument string as argv, placeholders replaced by the fixture's files."""
    args = args.split(" #")[0]
    args = args.replace("lightning_logs/train/<run>", files["run"]).replace("<run>", files["run"])
    args = args.replace("<best>.ckpt", "last.ckpt").replace("lightning_logs/multirun/<time>", files["sweep"])
    args = re.sub(r"<[^>]+>", "1", args)
    argv = []
    for tok in shlex.split(args):
        key, eq, value = tok.partition("=")
        if tok == "...":
            continue  # "and more arguments"
        if eq and value == "...":
            value = files["ckpt"] if key == "ckpt_path" else "x"
        elif eq and value in ("clip.wav", "clips.csv", "calls.csv", "glove.840B.300d.txt", "transcript.txt"):
            value = str(tmp_path / value)
        argv.append(f"{key}{eq}{value}" if eq else tok)
    return argv


def expand(argv: list[str]) -> list[list[str]]:
    """``[a=x|y]`` optional alternatives and ``-m`` sweeps (``seed=1,2``) as plain override lists: each value
    once, the other sweeps at their first value."""
    plain, choices = [], []
    for tok in argv:
        if tok in RUN_FLAGS:
            continue
        if m := re.fullmatch(r"\[(\S+?)=(\S+)\]", tok):
            choices.append([None, *(f"{m[1]}={v}" for v in m[2].split("|"))])
            continue
        (override,) = OverridesParser.create().parse_overrides([tok])
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            plain.append(tok)
    combos = [[c[0] for c in choices]]
    for i, options in enumerate(choices):
        combos += [[o if j == i else c[0] for j, c in enumerate(choices)] for o in options[1:]]
    return [plain + [c for c in combo if c] for combo in combos]


def test_the_readme_documents_every_entry_point():
    modules = {module for _, module, _ in COMMANDS}
    assert {"train", "evaluate", "predict", "prepare", "aggregate"} <= modules
    assert len(COMMANDS) > 20


@pytest.mark.parametrize(("where", "module", "args"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_documented_command_composes(where, module, args, files, tmp_path, monkeypatch):
    assert module in HYDRA_COMMANDS | ARGPARSE_COMMANDS, f"{where}: no entry point mosei_attn.{module}"
    spec = importlib.util.find_spec(f"mosei_attn.{module}")
    if (
        spec.submodule_search_locations
    ):  # a package: `python -m` runs its __main__ (importing it would run it)
        assert importlib.util.find_spec(f"mosei_attn.{module}.__main__"), f"{where}: no {module}/__main__.py"
        if module == "synthetic" and args.strip():  # its parser reads the documented arguments
            got = {}
            monkeypatch.setattr(
                writer, "write_synthetic_corpus", lambda root, **kw: got.update(kw, root=root) or root
            )
            argv = [re.sub(r"^[A-Z]$", "7", a) for a in substitute(args, files, tmp_path)]  # N, S: a number
            writer.main(argv)
            given = dict(zip(argv[1::2], argv[2::2], strict=False))  # --videos 600 --seed 7
            want = {
                k: int(given[f"--{a}"])
                for k, a in (("n_videos", "videos"), ("seed", "seed"))
                if f"--{a}" in given
            }
            assert want and got["root"] == Path(argv[0]), f"{where}: {got}"
            assert {k: got[k] for k in want} == want, f"{where}: {got}"
        return
    mod = importlib.import_module(f"mosei_attn.{module}")
    if not args.strip():  # the command named in prose, without arguments: it exists
        assert callable(mod.main), f"{where}: mosei_attn.{module} has no main()"
        return
    argv = substitute(args, files, tmp_path)
    if any(a.startswith("hydra/launcher=slurm") for a in argv):
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the [slurm] extra is missing")
    if any(a.startswith("hydra/launcher=parallel") for a in argv):
        pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="the [parallel] extra is missing")
    if any(a.startswith("hparams_search=") for a in argv):
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the [optuna] extra is missing")
    if module in ARGV_HOOKS:  # what the module's __main__ does to sys.argv before Hydra parses it
        argv = ARGV_HOOKS[module](mod)(["python", *argv])[1:]
    if module in ARGPARSE_COMMANDS:
        if hasattr(mod, "build_parser"):
            parsed = vars(mod.build_parser().parse_args(argv))
            values = {
                str(v) for value in parsed.values() for v in (value if isinstance(value, list) else [value])
            }
            for tok in argv:  # every argument given arrives in the parsed namespace
                assert tok.startswith("-") or tok in values, f"{where}: {tok} not in {parsed}"
        else:  # its parser lives inside main(): at least the entry point exists
            assert callable(mod.main), f"{where}: mosei_attn.{module} has no main()"
        return
    for overrides in expand(argv):
        cfg = compose_config(module, overrides, tmp_path / "out")
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        for override in OverridesParser.create().parse_overrides(overrides):  # and each value arrived
            assert_lands(cfg, override, where)


#: What OmegaConf.select answers for a key the config does not have.
MISSING_KEY = object()
#: Keys compose_config sets itself (the run folder and the log folder of the test).
OWN_KEYS = ("paths.output_dir", "paths.log_dir")


def assert_lands(cfg: DictConfig, override: Override, where: str) -> None:
    """The override's value, with its type, is what the composed config holds: a group override is Hydra's
    recorded choice for that group, a ``hydra.*`` key is in Hydra's own config, any other key in the job's."""
    key, expected = override.get_key_element(), override.value()
    hydra_cfg = HydraConfig.get()
    if key in OWN_KEYS or override.is_delete():
        return
    if "/" in key or key in hydra_cfg.runtime.choices:
        assert hydra_cfg.runtime.choices.get(key) == expected, f"{where}: the {key} group is not {expected}"
        return
    if key.startswith("hydra."):
        actual = OmegaConf.select(hydra_cfg, key.removeprefix("hydra."))
    else:
        actual = OmegaConf.select(cfg, key, default=MISSING_KEY)
    assert actual is not MISSING_KEY, f"{where}: {key} is not in the composed config"
    if OmegaConf.is_config(actual):
        actual = OmegaConf.to_container(actual, resolve=True)
    assert actual == expected, f"{where}: {key} is {actual!r}, not {expected!r}"
    assert type(actual) is type(expected), (
        f"{where}: {key} is a {type(actual).__name__}, not {type(expected).__name__}"
    )


def test_expand_gives_each_sweep_value_once():
    runs = expand(["-m", "model=attention,shallow", "seed=1,2,3", "x.y=1", "[split=val|test]"])
    assert ["model=attention", "seed=1", "x.y=1"] in [sorted(r) for r in runs]
    assert {tuple(sorted(r)) for r in runs} >= {
        ("model=shallow", "seed=1", "x.y=1"),
        ("model=attention", "seed=3", "x.y=1"),
        ("model=attention", "seed=1", "split=test", "x.y=1"),
    }
    assert len(runs) == 1 + 1 + 2 + 2
    assert list(itertools.chain(*runs)).count("x.y=1") == len(runs)


def test_the_project_sends_readers_only_to_files_it_ships():
    """No mention of the background notes the project does not ship; every docs/ page named exists."""
    unshipped = ("DESIGN" + ".md", "FORMAT" + ".md")
    texts = [REPO / "README.md", REPO / "sweeps" / "README.md", *DOCS]
    for folder, pattern in (("mosei_attn", "*.py"), ("conf", "*.yaml"), ("tests", "*.py"), ("sweeps", "*")):
        texts += [p for p in (REPO / folder).rglob(pattern) if p.is_file()]
    for path in texts:
        text = path.read_text(errors="replace")
        for name in unshipped:
            assert name not in text, f"{path} mentions {name}, which the project does not ship"
        for page in re.findall(r"docs/[\w-]+\.md", text):
            assert (REPO / page).is_file(), f"{path} points to {page}, which does not exist"


def test_assert_lands_tells_types_and_group_choices_apart(tmp_path):
    cfg = compose_config("train", ["trainer.max_epochs=3", "model=shallow"], tmp_path / "out")
    int_value, float_value, other_model = OverridesParser.create().parse_overrides(
        ["trainer.max_epochs=3", "trainer.max_epochs=3.0", "model=attention"]
    )
    assert_lands(cfg, int_value, "here")
    with pytest.raises(AssertionError, match="trainer.max_epochs is a int, not float"):
        assert_lands(cfg, float_value, "here")
    with pytest.raises(AssertionError, match="the model group is not attention"):
        assert_lands(cfg, other_model, "here")
