"""Browser tests against the production build: one server per session, one browser context per test."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from backend.cli import ROOT, worker_command
from tests.conftest import e2e_server_of
from tests.e2e.server import DEMO_PASSWORD, WEB_DIR, Server, free_port, run_cli, serve, server_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
UI_TIMEOUT_MS = 20_000
# Assertions wait as long as actions do: under `make test` the other xdist worker trains models on the same
# cores, and a page that renders in 1 s alone can take several then.
expect.set_options(timeout=UI_TIMEOUT_MS)
XSS_PAYLOAD = "<img src=x onerror=alert(1)>"
XSS_USERNAME = "xss_probe"
XSS_PASSWORD = "xss-probe-password-1"


# The browser-test server this process serves: the second when xdist gave it the second server's tests
# (tests/conftest.py), set from the first browser test it runs.
_server_number: list[int] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _server_number:
        _server_number.append(e2e_server_of(item.nodeid) if os.environ.get("PYTEST_XDIST_WORKER") else 1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The migrated, seeded app served by `reflex run --env prod --single-port` on a free port."""
    number = _server_number[0] if _server_number else 1
    web_dir = WEB_DIR if number == 1 else f"{WEB_DIR}-{number}"
    env = server_env(free_port(), tmp_path_factory.mktemp("aisystem-e2e"), REFLEX_WEB_WORKDIR=web_dir)
    run_cli(env, "migrate")
    run_cli(env, "seed")
    # A stored-XSS probe: a user whose display name is markup.
    run_cli(env, "create-user", XSS_USERNAME, "--role", "business_user", "--display-name", XSS_PAYLOAD,
            "--password-stdin", stdin=XSS_PASSWORD + "\n")
    with contextlib.ExitStack() as stack:
        with one_build_at_a_time():
            running = stack.enter_context(serve(env, "--single-port"))
        yield running


@contextlib.contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Held while a server builds its frontend and starts: two builds at once would install the same
    packages into Bun's shared cache side by side (and only contend for the cores)."""
    with (ROOT / ".web-test.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def workers(server: Server, count: int) -> Iterator[list[subprocess.Popen]]:
    """`count` workers (all queues) joined to the test server's database and broker; their process groups
    are killed afterwards."""
    log = open(server.log_path.with_name("worker.log"), "ab")  # noqa: SIM115  (closed below)
    procs = [subprocess.Popen(worker_command(f"e2e{n}"), cwd=ROOT, env=server.env, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
             for n in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def worker(server: Server) -> Iterator[subprocess.Popen]:
    """One worker (all queues) for the test."""
    with workers(server, 1) as procs:
        yield procs[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; per module, because Playwright's sync API holds an asyncio loop
    in the main thread while it runs, which async tests collected later could not share."""
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(server: Server, browser: Browser) -> Iterator[Page]:
    """A fresh tab (own storage, so its own Reflex session) at laptop size."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def sign_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form and wait for the home page."""
    page.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#sign-in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#main-nav")).to_be_visible()


def sign_out(page: Page) -> None:
    """Sign out through the user menu."""
    page.locator("#user-menu").click()
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
