import pytest

from lextune.analysis.playbook import default_playbook, load_playbook, playbook_from_dict
from lextune.core.errors import ConfigError


def _write(tmp_path, text: str):
    path = tmp_path / "firm.yaml"
    path.write_text(text)
    return path


def test_shipped_playbook_loads_with_the_three_example_rules():
    p = default_playbook()
    assert "Cap on Liability" in [r.clause for r in p.required]
    assert p.governing_law.allowed == ["New York"]
    assert p.renewal_notice_days.min == 60
    assert p.forbidden and p.phrases
    assert all(r.recommendation for r in [*p.required, *p.forbidden, *p.phrases])


def test_shorthand_and_case_insensitive_clause_types(tmp_path):
    p = load_playbook(_write(tmp_path, "name: x\nrequired: [cap on liability, Governing Law]\n"
                                       "forbidden:\n  - clause: NON-COMPETE\n    severity: high\n"))
    assert [r.clause for r in p.required] == ["Cap on Liability", "Governing Law"]
    assert p.required[0].severity == "medium" and p.forbidden[0].clause == "Non-Compete"


def test_typo_key_names_the_file_and_the_key(tmp_path):
    path = _write(tmp_path, "name: x\nrequird: [Governing Law]\n")
    with pytest.raises(ConfigError) as e:
        load_playbook(path)
    assert str(path) in str(e.value) and "unknown key 'requird'" in str(e.value)


def test_nested_typo_names_the_nested_field(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'governing_law.alowed'"):
        load_playbook(_write(tmp_path, "name: x\ngoverning_law:\n  allowed: [New York]\n  alowed: [Delaware]\n"))
    with pytest.raises(ConfigError, match=r"unknown key 'required.0.severty'"):
        load_playbook(_write(tmp_path, "name: x\nrequired:\n  - clause: Insurance\n    severty: high\n"))


def test_unknown_clause_type_names_the_field_and_suggests(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_playbook(_write(tmp_path, "name: x\nrequired: [Governing Law, Cap On Liabilty]\n"))
    msg = str(e.value)
    assert "'required.1.clause'" in msg and "Cap On Liabilty" in msg and "did you mean 'Cap on Liability'" in msg


def test_bad_values_name_their_field(tmp_path):
    with pytest.raises(ConfigError, match=r"'forbidden.0.severity'"):
        load_playbook(_write(tmp_path, "name: x\nforbidden:\n  - clause: Exclusivity\n    severity: urgent\n"))
    with pytest.raises(ConfigError, match=r"'renewal_notice_days.min'"):
        load_playbook(_write(tmp_path, "name: x\nrenewal_notice_days: {min: sixty}\n"))
    with pytest.raises(ConfigError, match=r"'phrases.0.pattern'.*regular expression"):
        load_playbook(_write(tmp_path, "name: x\nphrases:\n  - pattern: '(unclosed'\n"))
    with pytest.raises(ConfigError, match=r"'name'"):
        load_playbook(_write(tmp_path, "required: [Insurance]\n"))


def test_unreadable_playbook_files(tmp_path):
    with pytest.raises(ConfigError, match="no such playbook file"):
        load_playbook(tmp_path / "missing.yaml")
    path = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_playbook(path)
    with pytest.raises(ConfigError, match="a playbook is a mapping"):
        playbook_from_dict(["not", "a", "mapping"])  # type: ignore[arg-type]
