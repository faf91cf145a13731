from lextune.vault.pii import PiiPolicy
from lextune.vault.pii import policy as policy_module
def test_x(monkeypatch):
    print(policy_module.__file__, PiiPolicy.config_hash.__globals__['__file__'], policy_module is __import__('sys').modules['lextune.vault.pii.policy'])
    a = PiiPolicy().config_hash()
    monkeypatch.setattr(policy_module, "RECOGNIZERS_VERSION", "zz")
    print(PiiPolicy.config_hash.__globals__['RECOGNIZERS_VERSION'], a, PiiPolicy().config_hash())
