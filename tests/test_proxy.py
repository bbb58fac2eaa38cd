"""The trusted side's round trips: a description is asked for again only after something may have changed it,
it can come with the build or the move that precedes it, and several attributes come back in one request."""
import pytest
import torch

from conftest import ROOT
from grader.isolation import Launcher
from grader.proxy import StudentCrash, StudentError, StudentProxy
from grader.sandbox import detect
from grader.submission import locate


@pytest.fixture(scope="module")
def proxy():
    proxy = StudentProxy(locate(str(ROOT / "solutions" / "attention.py")), Launcher(detect()))
    yield proxy
    proxy.close()


@pytest.fixture
def requests(proxy, monkeypatch):
    sent = []
    request = StudentProxy.request

    def counted(self, message, *args, **kwargs):
        sent.append(message["op"])
        return request(self, message, *args, **kwargs)

    monkeypatch.setattr(StudentProxy, "request", counted)
    return sent


def test_a_description_is_asked_for_again_only_after_a_change(proxy, requests):
    module = proxy.build("MultiHeadAttention", 3, 4, 5, 0.0, num_heads=2)
    first = module.describe()
    assert module.describe() == first and requests.count("describe") == 1
    module.get("W_query.weight")  # reading changes nothing
    module.describe()
    assert requests.count("describe") == 1
    module.to(torch.float64)
    again = module.describe()
    assert requests.count("describe") == 2
    assert {p["dtype"] for p in first["parameters"].values()} == {"float32"}
    assert {p["dtype"] for p in again["parameters"].values()} == {"float64"}


def test_a_new_worker_is_asked_again(proxy, requests):
    module = proxy.build("CausalAttention", 3, 2, 4, 0.0)
    module.describe()
    proxy.close()  # the next request starts a fresh worker, which holds none of the old one's modules
    with pytest.raises(StudentCrash, match="unknown handle"):
        module.describe()
    assert requests.count("describe") == 2


def test_several_attributes_in_one_request(proxy, requests):
    wrapper = proxy.build("MultiHeadAttentionWrapper", 3, 2, 4, 0.0, num_heads=2)
    many = wrapper.get_many(["heads.0", "heads.1", "heads.2", "heads.0.W_query.weight"])
    assert requests.count("get_many") == 1 and "get" not in requests
    assert [type(value).__name__ for value in many[:3]] == ["ModuleHandle", "ModuleHandle", "NoneType"]
    assert torch.equal(many[3], wrapper.get("heads.0.W_query.weight"))


@pytest.mark.parametrize("name, args, kwargs", [("CausalAttention", (3, 4, 5, 0.1), {}),
                                                ("MultiHeadAttention", (3, 4, 5, 0.0), {"num_heads": 2}),
                                                ("MultiHeadAttentionWrapper", (3, 2, 4, 0.0), {"num_heads": 2}),
                                                ("SelfAttention_v2", (3, 2), {"qkv_bias": True})])
def test_a_description_can_come_with_its_build(proxy, requests, name, args, kwargs):
    brought = proxy.build(name, *args, training=False, describe=True, **kwargs).describe()
    assert "describe" not in requests
    asked = proxy.build(name, *args, training=False, **kwargs).describe()
    assert requests.count("describe") == 1
    def without_ids(info):  # ids tell a module's submodules apart: another build has other ones
        return {**info, "modules": {path: {**m, "id": None} for path, m in info["modules"].items()}}

    assert without_ids(brought) == without_ids(asked)


def test_a_description_can_come_with_a_move(proxy, requests):
    module = proxy.build("CausalAttention", 3, 4, 5, 0.0).to("meta", describe=True)
    info = module.describe()
    assert "describe" not in requests
    assert {b["device"] for b in info["buffers"].values()} == {"meta"}
    module.train()  # may change the module: the next description is asked for
    module.describe()
    assert requests.count("describe") == 1


def test_a_description_that_fails_is_asked_for(tmp_path, requests):
    """A module the worker cannot describe builds as before; the describe request that follows meets the
    student's error itself."""
    path = tmp_path / "attention.py"
    path.write_text((ROOT / "solutions" / "attention.py").read_text() + """

class CausalAttention(CausalAttention):
    def named_parameters(self, *args, **kwargs):
        raise ValueError("no parameters today")
""")
    proxy = StudentProxy(locate(str(path)), Launcher(detect()))
    try:
        module = proxy.build("CausalAttention", 3, 4, 5, 0.0, describe=True)
        with pytest.raises(StudentError, match="no parameters today"):
            module.describe()
        assert requests == ["call", "describe"]
    finally:
        proxy.close()
