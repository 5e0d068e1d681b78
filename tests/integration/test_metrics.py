"""openrc-sv metrics and node_exporter's textfile, with the real parts
(issue 11 §4 and §5): Debian's promtool checks our output, and a real
prometheus-node-exporter, started in the sandbox on 127.0.0.1 and killed
with it, serves the textfile we write, read back over HTTP after a real
crash and a failed health check.

The textfile directory is /run/textfile in the sandbox (root's: its own
tmpfs /run), named by /etc/rc.conf.d/metrics.conf.
"""

import shutil
import socket
import subprocess
import urllib.request

import pytest

import initscripts as I
from sandbox import wait_for
from test_backends import install, live_daemon, status_json, world

pytestmark = pytest.mark.integration

TEXTFILE = "/run/textfile"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")
needs_parts = pytest.mark.skipif(
    not (NODE_EXPORTER and PROMTOOL),
    reason="needs Debian's prometheus-node-exporter and prometheus (promtool): tools/run setup")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Exporter:
    """A real node_exporter with only the textfile collector, in the sandbox."""

    def __init__(self, sb):
        self.port = free_port()
        sb.run("mkdir", "-p", "-m", "0755", TEXTFILE, check=True)
        sb.write("/etc/rc.conf.d/metrics.conf", 'openrc_sv_textfile_dir="%s"\n' % TEXTFILE)
        self.proc = sb.spawn(NODE_EXPORTER, "--collector.disable-defaults",
                             "--collector.textfile",
                             "--collector.textfile.directory=" + TEXTFILE,
                             "--web.listen-address=127.0.0.1:%d" % self.port)
        wait_for(self._answers, 10, interval=0.1, what="node_exporter to listen")

    def _answers(self):
        try:
            return self.scrape() is not None
        except OSError:
            return False

    def scrape(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=5) as r:
            return r.read().decode()

    def value(self, family, svc):
        """The sample of family for svc, as a float, or None."""
        for line in self.scrape().splitlines():
            if line.startswith(family + "{") and 'service="%s"' % svc in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=["native", "runit"])
def msb(request, sandbox):
    sb = sandbox("ours")
    world(sb, request.param)
    sb.backend = request.param
    return sb


def check_with_promtool(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr + text


@needs_parts
def test_promtool_accepts_what_metrics_prints(msb):
    install(msb, msb.backend, "svc", healthcheck_timer=1,
            functions="healthcheck() { true; }\n")
    assert msb.rc("svc", "start").returncode == 0
    live_daemon(msb, "svc")
    r = msb.run("openrc-sv", "metrics")
    assert r.returncode == 0, r.stdout + r.stderr
    check_with_promtool(r.stdout)
    assert 'openrc_sv_up{service="svc",backend="%s"} 1' % msb.backend in r.stdout
    assert "openrc_sv_start_time_seconds{" in r.stdout


@needs_parts
def test_node_exporter_serves_our_metrics_after_a_crash(msb):
    ne = Exporter(msb)
    try:
        install(msb, msb.backend, "svc")
        assert msb.rc("svc", "start").returncode == 0
        first = live_daemon(msb, "svc")
        assert msb.run("openrc-sv", "metrics", "--textfile").returncode == 0
        assert ne.value("openrc_sv_up", "svc") == 1
        assert ne.value("openrc_sv_restarts_total", "svc") == 0
        msb.run("kill", "-9", str(first), check=True)
        live_daemon(msb, "svc", other_than=first)
        r = msb.run("openrc-sv", "metrics", "--textfile")
        assert r.returncode == 0, r.stdout + r.stderr
        check_with_promtool(msb.read(TEXTFILE + "/openrc-sv-svc.prom"))
        assert ne.value("openrc_sv_up", "svc") == 1
        assert ne.value("openrc_sv_restarts_total", "svc") == 1
        assert ne.value("openrc_sv_last_exit_signal", "svc") == 9
        assert ne.value("openrc_sv_last_exit_code", "svc") is None
        assert ne.value("openrc_sv_failed", "svc") == 0
        assert 'backend="%s"' % msb.backend in ne.scrape()
        # A service no longer supervised loses its file at the next full write.
        assert msb.rc("svc", "stop").returncode == 0
        msb.write(TEXTFILE + "/openrc-sv-gone.prom", "")
        assert msb.run("openrc-sv", "metrics", "--textfile").returncode == 0
        assert not msb.exists(TEXTFILE + "/openrc-sv-gone.prom")
    finally:
        ne.close()


HEALTH = """
healthcheck() { [ ! -e %(d)s/sick ] || return 1; while [ -e %(d)s/hold ]; do sleep 0.1; done; }
unhealthy() { touch %(d)s/hold; rm -f %(d)s/sick; }
"""


@needs_parts
def test_a_failed_health_check_reaches_node_exporter_from_runits_watcher(sandbox):
    """runit's health watcher publishes each result and each new daemon
    itself: nothing but the supervision writes the file here."""
    sb = sandbox("ours")
    world(sb, "runit")
    ne = Exporter(sb)
    try:
        d = I.statedir("svc")
        install(sb, "runit", "svc", healthcheck_timer=1, healthcheck_delay=1,
                healthcheck_timeout=60, functions=HEALTH % {"d": d})
        assert sb.rc("svc", "start").returncode == 0
        first = live_daemon(sb, "svc")
        wait_for(lambda: ne.value("openrc_sv_health_ok", "svc") == 1, 15,
                 what="a passing check published")
        assert ne.value("openrc_sv_health_check_failures_total", "svc") == 0
        sb.write(d + "/sick", "")
        second = live_daemon(sb, "svc", other_than=first)
        # The new daemon's first check blocks on `hold`: it is not checked yet.
        wait_for(lambda: status_json(sb, "svc")["pid"] == second, 10, what="status to see it")
        st = status_json(sb, "svc")
        assert st["health"] == "pending", st
        assert st["health_failures"] == 1 and st["health_runs"] >= 2
        wait_for(lambda: ne.value("openrc_sv_restarts_total", "svc") == 1, 15,
                 what="the restart published")
        assert ne.value("openrc_sv_health_check_failures_total", "svc") == 1
        assert ne.value("openrc_sv_health_ok", "svc") is None      # pending: no sample
        # The test daemon exits 0 on the stop signal.
        assert ne.value("openrc_sv_last_exit_code", "svc") == 0
        sb.run("rm", "-f", d + "/hold", check=True)
        wait_for(lambda: status_json(sb, "svc")["health"] == "ok", 15, what="ok again")
        wait_for(lambda: ne.value("openrc_sv_health_ok", "svc") == 1, 15,
                 what="ok again published")
        check_with_promtool(sb.read(TEXTFILE + "/openrc-sv-svc.prom"))
        assert sb.rc("svc", "stop").returncode == 0
    finally:
        ne.close()


@needs_parts
def test_the_native_supervisor_publishes_a_crash_itself(sandbox):
    sb = sandbox("ours")
    world(sb, "native")
    ne = Exporter(sb)
    try:
        install(sb, "native", "svc")
        assert sb.rc("svc", "start").returncode == 0
        first = live_daemon(sb, "svc")
        sb.run("kill", "-9", str(first), check=True)
        live_daemon(sb, "svc", other_than=first)
        wait_for(lambda: ne.value("openrc_sv_restarts_total", "svc") == 1, 3,
                 what="the supervisor to publish the respawn")
    finally:
        ne.close()


@needs_parts
def test_native_health_is_pending_until_the_new_daemons_first_check(sandbox):
    sb = sandbox("ours")
    world(sb, "native")
    d = I.statedir("svc")
    install(sb, "native", "svc", healthcheck_timer=1, healthcheck_delay=1,
            healthcheck_timeout=60, functions=HEALTH % {"d": d})
    assert sb.rc("svc", "start").returncode == 0
    first = live_daemon(sb, "svc")
    wait_for(lambda: status_json(sb, "svc")["health"] == "ok", 15, what="a passing check")
    sb.write(d + "/sick", "")
    live_daemon(sb, "svc", other_than=first)
    wait_for(lambda: status_json(sb, "svc")["health"] == "pending", 3, what="pending")


SIMPLE_HEALTH = """
healthcheck() { [ ! -e %(d)s/sick ]; }
unhealthy() { rm -f %(d)s/sick; }
"""


@needs_parts
def test_monits_launcher_publishes_its_starts_and_health_results(sandbox):
    """monit's launcher writes the textfile itself: at each start of the
    daemon, after each health result, and when it gives up."""
    sb = sandbox("ours")
    world(sb, "monit")
    ne = Exporter(sb)
    try:
        d = I.statedir("svc")
        install(sb, "monit", "svc", healthcheck_timer=1, healthcheck_delay=1,
                functions=SIMPLE_HEALTH % {"d": d})
        assert sb.rc("svc", "start").returncode == 0
        first = live_daemon(sb, "svc")
        wait_for(lambda: ne.value("openrc_sv_up", "svc") == 1, 30, what="the start published")
        assert ne.value("openrc_sv_restarts_total", "svc") == 0
        wait_for(lambda: ne.value("openrc_sv_health_ok", "svc") == 1, 30,
                 what="a passing check published")
        sb.write(d + "/sick", "")
        live_daemon(sb, "svc", other_than=first)
        wait_for(lambda: ne.value("openrc_sv_health_check_failures_total", "svc") == 1, 30,
                 what="the failed check published")
        wait_for(lambda: ne.value("openrc_sv_restarts_total", "svc") == 1, 30,
                 what="the restart published")
        assert ne.value("openrc_sv_health_checks_total", "svc") >= 2
        check_with_promtool(sb.read(TEXTFILE + "/openrc-sv-svc.prom"))
        assert sb.rc("svc", "stop").returncode == 0
    finally:
        ne.close()


@needs_parts
def test_runits_run_and_finish_publish_a_crash_themselves(sandbox):
    """No health check, no `openrc-sv metrics`: ./finish publishes the exit
    and ./run the new start, so a crash reaches node_exporter."""
    sb = sandbox("ours")
    world(sb, "runit")
    ne = Exporter(sb)
    try:
        install(sb, "runit", "svc")
        assert sb.rc("svc", "start").returncode == 0
        first = live_daemon(sb, "svc")
        wait_for(lambda: ne.value("openrc_sv_up", "svc") == 1, 15, what="the start published")
        assert ne.value("openrc_sv_restarts_total", "svc") == 0
        sb.run("kill", "-9", str(first), check=True)
        live_daemon(sb, "svc", other_than=first)
        wait_for(lambda: ne.value("openrc_sv_restarts_total", "svc") == 1, 15,
                 what="the respawn published")
        assert ne.value("openrc_sv_up", "svc") == 1
        assert ne.value("openrc_sv_last_exit_signal", "svc") == 9
        check_with_promtool(sb.read(TEXTFILE + "/openrc-sv-svc.prom"))
        assert sb.rc("svc", "stop").returncode == 0
    finally:
        ne.close()
