"""The trusted side's round trips: a description is asked for again only after something may have changed it,
and several attributes come back in one request."""
import pytest
import torch

from conftest import ROOT
from grader.isolation import Launcher
from grader.proxy import StudentCrash, StudentProxy
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
