"""`--scheduler`: a remote Dask scheduler needs mutual TLS or the explicit insecure opt-in;
nothing here connects anywhere (refusals happen before any connection, acceptances are
checked on the connection arguments handed to dask's Client)."""

from __future__ import annotations

import pytest

from labctl import cli
from labctl.runner import parallel
from labctl.runner.parallel import SchedulerAccess, SchedulerAddressError, scheduler_access


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786",
                                     "tcp://localhost:8786", "tcp://[::1]:8786",
                                     "tcp://127.3.4.5:1"])
def test_loopback_addresses_are_accepted_as_they_are(address):
    access = scheduler_access(address)
    assert access.security is None and not access.insecure
    assert access.address.startswith("tcp://")


@pytest.mark.parametrize("address", ["tcp://10.0.0.7:8786", "192.168.1.20:8786",
                                     "tcp://cluster.example.org:8786",
                                     "tcp://localhost.evil.example:8786",
                                     "tcp://[2001:db8::1]:8786"])
def test_remote_plain_addresses_are_refused_without_the_opt_in(address):
    with pytest.raises(SchedulerAddressError, match="--allow-insecure-scheduler"):
        scheduler_access(address)
    access = scheduler_access(address, allow_insecure=True)
    assert access.insecure and access.security is None


@pytest.mark.parametrize("address", ["", "ws://10.0.0.7:8786", "ucx://10.0.0.7:1",
                                     "tcp://:8786", "x" * 2000])
def test_malformed_addresses_are_refused(address):
    with pytest.raises(SchedulerAddressError):
        scheduler_access(address, allow_insecure=True)


def test_remote_tls_needs_a_ca_and_a_client_certificate(tmp_path):
    import dask

    with pytest.raises(SchedulerAddressError, match="CA file and a client certificate"):
        scheduler_access("tls://10.0.0.7:8786")
    with pytest.raises(SchedulerAddressError, match="not a readable file"):
        scheduler_access("tls://10.0.0.7:8786", tls_ca_file=str(tmp_path / "missing.pem"),
                         tls_cert=str(tmp_path / "missing.pem"))
    ca, cert = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.write_text("not checked before connecting\n")
    cert.write_text("not checked before connecting\n")
    access = scheduler_access("tls://10.0.0.7:8786", tls_ca_file=str(ca), tls_cert=str(cert))
    assert access.security is not None and access.security.require_encryption
    assert access.security.tls_ca_file == str(ca)
    assert access.security.tls_client_cert == str(cert)
    with dask.config.set({"distributed.comm.tls.ca-file": str(ca),
                          "distributed.comm.tls.client.cert": str(cert)}):
        assert scheduler_access("tls://10.0.0.7:8786").security is not None


def test_labctl_run_refuses_a_remote_plain_scheduler_before_anything_opens(
        write_protocol, tmp_path, capsys, monkeypatch):
    opened = []
    monkeypatch.setattr("labctl.runner.session.open_bench",
                        lambda *a, **k: opened.append(a) or pytest.fail("bench opened"))
    out = tmp_path / "never.h5"
    code = cli.main(["run", str(write_protocol(duration=0.5)), "-o", str(out),
                     "--scheduler", "tcp://10.0.0.7:8786", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "--allow-insecure-scheduler" in err and "Traceback" not in err
    assert not out.exists() and not opened


def test_the_session_gates_a_plain_address_string_too(monkeypatch):
    """A RunSession given a bare remote address (no CLI in between) is refused at connect
    time; a loopback one reaches dask's Client with no security object."""
    calls = []

    class FakeClient:
        def __init__(self, address, security=None):
            calls.append((address, security))
            raise RuntimeError("stop here: no connection in tests")

    import dask.distributed

    monkeypatch.setattr(dask.distributed, "Client", FakeClient)

    class Session:
        plans = ()
        scheduler = "tcp://10.0.0.7:8786"

    class Writer:
        completed: frozenset[int] = frozenset()

    with pytest.raises(SchedulerAddressError):
        parallel.run_parallel(Session(), Writer())
    assert calls == []
    Session.scheduler = "tcp://127.0.0.1:8786"
    with pytest.raises(RuntimeError, match="stop here"):
        parallel.run_parallel(Session(), Writer())
    assert calls == [("tcp://127.0.0.1:8786", None)]
    Session.scheduler = SchedulerAccess("tcp://10.0.0.7:8786", insecure=True)
    with pytest.raises(RuntimeError, match="stop here"):
        parallel.run_parallel(Session(), Writer())
    assert calls[-1] == ("tcp://10.0.0.7:8786", None)
