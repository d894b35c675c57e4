"""``labctl serve [RUNS_DIR]``: a live web view of the runs of a folder.

Safe by default: it listens on 127.0.0.1 unless ``--host`` says otherwise; on any other
address every request needs an access token (a new one is printed once at start, or the
tokens of ``--token-file`` are used); it only reads run files (``--run PROTOCOL`` also
starts a run, writing a new file into RUNS_DIR) and controls nothing unless
``--allow-control`` is given, which adds Pause, Resume, Abort and SAFE STATE for the run
it started. Every option is checked before anything opens; bad input exits 2 with one
``error:`` line. Ctrl-C or SIGTERM stops the server (its own run is aborted first: the
bench ends safe, the file is closed as aborted).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from labctl.web.access import Token, TokenFileError, is_loopback, new_token, read_token_file

EXIT_USAGE = 2
DEFAULT_PORT = 8765


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``labctl serve``."""
    parser.add_argument("runs_dir", nargs="?", metavar="RUNS_DIR",
                        help="folder of run files to show (default: the one labctl run "
                        "writes to)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                        "127.0.0.1, this machine only; any other address needs an access "
                        "token on every request)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--token-file", metavar="F", help="access tokens, one per line "
                        "(TOKEN or NAME TOKEN; NAME is logged with control requests); "
                        "without it a token is generated and printed once when --host is "
                        "not a loopback address")
    parser.add_argument("--allow-control", action="store_true",
                        help="add Pause, Resume, Abort and SAFE STATE to the page for the "
                        "run this server starts (--run); each request logged with who asked")
    parser.add_argument("--run", metavar="PROTOCOL", help="also start this protocol's run "
                        "(its file goes into RUNS_DIR); the server aborts it when it stops")
    parser.add_argument("--bench", help="with --run: bench file (default: the protocol's)")
    parser.add_argument("--clock", choices=("fast", "paced"), default=None,
                        help="with --run, simulated bench: as fast as possible (default) or "
                        "at wall-clock pace")
    parser.add_argument("--seed", type=int, default=None,
                        help="with --run: run seed of the simulated bench (default 0)")


def _fail(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return EXIT_USAGE


def _runs_dir(args: argparse.Namespace) -> Path:
    if args.runs_dir:
        folder = Path(args.runs_dir)
    else:
        from labctl.catalog import default_runs_dir

        folder = default_runs_dir()
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        raise ValueError(f"RUNS_DIR {str(folder)!r}: not a folder; allowed an existing folder "
                         "of run files")
    return folder.resolve()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (ValueError naming both if impossible)."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port: {port}; allowed 0..65535 (0 picks a free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"--host {host!r}: not an address of this machine ({exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ValueError(f"--host {host} --port {port}: cannot listen there "
                         f"({exc.strerror or exc})") from None
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
    return f"http://{shown}:{port}/"


def cmd_serve(args: argparse.Namespace) -> int:
    """Check the options, start the optional run, serve until Ctrl-C/SIGTERM."""
    try:
        runs_dir = _runs_dir(args)
        if args.allow_control and not args.run:
            raise ValueError("--allow-control: nothing to control without --run PROTOCOL "
                             "(only a run started by this server can be controlled)")
        for name in ("bench", "clock", "seed"):
            if getattr(args, name) is not None and not args.run:
                raise ValueError(f"--{name}: only with --run PROTOCOL")
        tokens: list[Token] = read_token_file(args.token_file) if args.token_file else []
        generated = None
        if not tokens and not is_loopback(args.host):
            generated = new_token()
            tokens = [generated]
        output = _run_output(args, runs_dir) if args.run else None
        sock = _listen(args.host, args.port)
    except (TokenFileError, ValueError, OSError) as exc:
        return _fail(str(exc))
    port = sock.getsockname()[1]
    return _serve(args, runs_dir, sock, port, tokens, generated, output)


def _run_output(args: argparse.Namespace, runs_dir: Path) -> Path:
    """The new run file of ``--run`` in RUNS_DIR, after checking the protocol and bench
    file (ValueError naming the file and field); nothing is opened."""
    from labctl.bench.config import BenchFileError, load_bench
    from labctl.protocol import ProtocolError, load_protocol

    try:
        bench = load_bench(args.bench) if args.bench else None
        protocol = load_protocol(args.run, bench)
    except (ProtocolError, BenchFileError) as exc:
        raise ValueError(str(exc)) from None
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed: {args.seed}; allowed an integer 0..2**63-1")
    from labctl.runner.outputs import default_run_path

    return default_run_path(protocol.name, runs_dir)


def _serve(args: argparse.Namespace, runs_dir: Path, sock: socket.socket, port: int,
           tokens: list[Token], generated: Token | None, output: Path | None) -> int:
    import uvicorn

    from labctl.web.access import AccessGuard, audit
    from labctl.web.app import WebState, build_app
    from labctl.web.owned import OwnedRun, RunStartError

    owned = None
    if output is not None:
        owned = OwnedRun(args.run, output, control=args.allow_control, bench=args.bench,
                         clock=args.clock, seed=args.seed)
    cache = Path(tempfile.mkdtemp(prefix="labctl-serve-"))
    state = None
    try:
        if owned is not None:
            try:
                owned.start()
            except RunStartError as exc:
                return _fail(f"--run {args.run}: {exc}")
            audit(f"started run {owned.path.name} ({args.run})")
        state = WebState(runs_dir, owned, cache)
        app = AccessGuard(build_app(state), tokens, loopback_only=is_loopback(args.host))
        url = _url(args.host, port)
        mode = "control of its own run" if args.allow_control else "read-only"
        print(f"labctl serve: {url} ({mode}; runs folder {runs_dir})", flush=True)
        if generated is not None:
            print(f"access token (shown once, needed on every request): {generated.value}\n"
                  f"open: {url}?token={generated.value}", flush=True)
        elif tokens:
            print(f"access tokens: {len(tokens)} from {args.token_file}; open {url}?token=…",
                  flush=True)
        # open long polls (a live page's request for rows) end within 2 s of Ctrl-C
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, timeout_graceful_shutdown=2)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if owned is not None:
            owned.stop()
        if state is not None:
            state.followers.close()
        with contextlib.suppress(OSError):
            sock.close()
        shutil.rmtree(cache, ignore_errors=True)
    return 0
