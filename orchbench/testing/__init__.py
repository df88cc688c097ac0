"""A testing kit for engines: the deterministic fake engine and the backend contract checks.

A third-party engine runs the same contract as the shipped ones::

    import pytest
    from orchbench.testing import CONTRACT_CHECKS, ContractCase

    @pytest.mark.parametrize("check", CONTRACT_CHECKS)
    def test_contract(check):
        check(ContractCase(make=MyBackend, model=my_model, missing=absent_model))
"""

from orchbench.testing._contract import CONTRACT_CHECKS, ContractCase
from orchbench.testing._fake import FakeBackend, FakeCall

__all__ = ["CONTRACT_CHECKS", "ContractCase", "FakeBackend", "FakeCall"]
