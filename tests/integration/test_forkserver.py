"""The fork server: supervisors forked from one interpreter, each still a
process of its own that outlives the server."""

import pytest

from sandbox import our_script, wait_for

pytestmark = pytest.mark.integration

SCRIPT = """#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1000
"""
SOCK = "/run/openrc-sv/forkserver.sock"


def supervisor_pid(sb, svc):
    # /var/run is an absolute link to /run, which /proc/PID/root cannot follow
    return int(sb.read("/run/supervise-%s.pid" % svc).split()[0])


def comm(sb, pid):
    return sb.run("cat", "/proc/%d/comm" % pid).stdout.strip()


def ppid(sb, pid):
    return int(sb.run("cat", "/proc/%d/stat" % pid).stdout.rsplit(")", 1)[1].split()[1])


def test_services_started_through_the_fork_server_survive_it(sandbox):
    sb = sandbox("ours")
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    for svc in ("fa", "fb"):
        sb.install_script(svc, SCRIPT)
        r = sb.rc(svc, "start")
        assert r.returncode == 0, r.stdout + r.stderr
    sups = {svc: supervisor_pid(sb, svc) for svc in ("fa", "fb")}
    assert len(set(sups.values())) == 2                      # one supervisor per service
    for svc, pid in sups.items():
        assert comm(sb, pid) == "sv-" + svc                  # forked by the server...
        assert ppid(sb, pid) == 1                            # ...and adopted by init, like OpenRC's
        assert merged_mappings(sb, pid) == []                # no page merging unless asked

    # Kill the server: the supervisors carry on and still respawn.
    server_pids = sb.pids_of("openrc-sv-forkserver --socket")
    sb.run("kill", "-9", *[str(p) for p in server_pids if p not in sups.values()])
    daemon = int(sb.value("fa", "child_pid"))
    sb.run("kill", "-9", str(daemon))
    wait_for(lambda: sb.value("fa", "child_pid") not in (None, str(daemon)), 10, what="respawn")
    assert sb.alive(sups["fa"]) and sb.alive(sups["fb"])

    # With the server gone (stale socket), a start forks its own supervisor.
    sb.install_script("fc", SCRIPT)
    assert sb.rc("fc", "start").returncode == 0
    assert comm(sb, supervisor_pid(sb, "fc")) != "sv-fc"
    for svc in ("fa", "fb", "fc"):
        assert sb.rc(svc, "stop").returncode == 0
    assert sb.pids_of("sleep 1000") == []
    server.kill()


# -- the daemon cannot tell whether the server forked its supervisor ----------------

CTX_SCRIPT = """#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1000
"""
# What the service itself sets (OpenRC 0.45 hands nice, I/O and OOM values
# to supervise-daemon through these variables) ...
CONF_SETS = ('rc_ulimit="-n 4321"\n'
             'export SSD_NICELEVEL=5 SSD_OOM_SCORE_ADJ=123 SSD_IONICELEVEL=2:3\n')
# ... or only rc_ulimit, the rest comes from whoever ran rc-service.
CONF_INHERITS = 'rc_ulimit="-n 4321"\n'
# The caller's own context, which a supervisor forked by --start inherits.
CALLER = ("exec nice -n 7 ionice -c 2 -n 6 taskset -c 0 sh -c "
          "'echo 200 > /proc/self/oom_score_adj; umask 027; cd /tmp; exec rc-service %s start'")

STATUS_LINES = ("Uid", "Gid", "Groups", "Umask", "Cpus_allowed", "Cpus_allowed_list",
                "Mems_allowed_list", "NoNewPrivs", "Seccomp", "CapInh", "CapPrm", "CapEff",
                "CapBnd", "CapAmb", "SigIgn", "SigBlk")


def snapshot(sb, pid):
    """What the process can see of itself that a fork inherits."""
    def cat(name):
        r = sb.run("cat", "/proc/%d/%s" % (pid, name))
        assert r.returncode == 0, r.stderr
        return r.stdout
    status = dict(line.split(":", 1) for line in cat("status").splitlines())
    stat = cat("stat").rsplit(")", 1)[1].split()
    links = sb.run("sh", "-c", "cd /proc/%d && readlink cwd root ns/*" % pid).stdout
    return {
        "limits": cat("limits"),
        "cgroup": cat("cgroup"),
        "status": {k: status.get(k, "").strip() for k in STATUS_LINES},
        "oom_score_adj": cat("oom_score_adj").strip(),
        "nice": stat[16], "rt_priority": stat[37], "policy": stat[38],   # fields 19, 40, 41
        "ionice": sb.run("ionice", "-p", str(pid)).stdout.strip(),
        "loginuid": cat("loginuid"),
        "environ": sorted(cat("environ").split("\0")),
        "links": links,
    }


def mount_cgroups(sb, name):
    """The sandbox hides the host's cgroups; give OpenRC 0.45 a cgroup2
    (hybrid mode: /sys/fs/cgroup/unified) and a v1 hierarchy of its own
    (/sys/fs/cgroup/openrc) to put the service in.  False where the kernel
    or our privileges do not allow it."""
    r = sb.run("sh", "-c", "mkdir -p /sys/fs/cgroup/unified /sys/fs/cgroup/openrc"
               " && mount -t cgroup2 none /sys/fs/cgroup/unified"
               " && mount -t cgroup -o none,name=%s cgroup /sys/fs/cgroup/openrc" % name)
    return r.returncode == 0


def remove_cgroups(sb, svc):
    # The cgroup2 tree is the host's: leave no /SVC behind.  OpenRC removes
    # it at stop once empty; the v1 one it leaves.
    for d in ("/sys/fs/cgroup/unified/" + svc, "/sys/fs/cgroup/openrc/" + svc):
        if sb.exists(d):
            wait_for(lambda: sb.run("rmdir", d).returncode == 0 or not sb.exists(d), 10,
                     what="empty cgroup %s" % d)


def start_and_look(sb, svc, caller=None):
    cmd = (caller or CALLER) % svc
    r = sb.run("sh", "-c", cmd)
    assert r.returncode == 0, r.stdout + r.stderr
    sup = supervisor_pid(sb, svc)
    daemon = int(sb.value(svc, "child_pid"))
    seen = {"daemon": snapshot(sb, daemon), "supervisor": snapshot(sb, sup),
            "forked_by_server": comm(sb, sup) == "sv-" + svc}
    assert sb.rc(svc, "stop").returncode == 0
    wait_for(lambda: not sb.alive(sup), 10, what="supervisor exit")
    return seen


def start_server(sb):
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    return server


@pytest.mark.parametrize("conf", [CONF_SETS, CONF_INHERITS], ids=["service-sets", "caller-sets"])
def test_the_daemon_cannot_tell_the_server_forked_its_supervisor(sandbox, conf):
    sb = sandbox("ours")
    import os
    svc = "fsctx%d%s" % (os.getpid(), "s" if conf is CONF_SETS else "c")
    cgroups = mount_cgroups(sb, "osvt%d" % os.getpid())
    sb.install_script(svc, CTX_SCRIPT, conf)
    try:
        alone = start_and_look(sb, svc)
        start_server(sb)
        served = start_and_look(sb, svc)
    finally:
        if cgroups:
            remove_cgroups(sb, svc)
    assert not alone["forked_by_server"] and served["forked_by_server"]
    # Not vacuous: the context is not the server's.
    d = served["daemon"]
    assert "Max open files            4321                 4321" in d["limits"]
    assert d["status"]["Cpus_allowed_list"] == "0"
    if conf is CONF_SETS:
        assert (d["nice"], d["oom_score_adj"], d["ionice"]) == ("5", "123", "best-effort: prio 3")
    else:
        assert (d["nice"], d["oom_score_adj"], d["ionice"]) == ("7", "200", "best-effort: prio 6")
    if cgroups:
        assert "0::/%s\n" % svc in d["cgroup"] and ":name=osvt%d:/%s\n" % (os.getpid(), svc) in d["cgroup"]
        assert served["supervisor"]["cgroup"] == d["cgroup"]   # rc_cgroup_cleanup reaches it too
    for who in ("daemon", "supervisor"):
        for key in alone[who]:
            # /proc/PID/environ is the environment at exec, which a forked
            # supervisor never did; its os.environ, and so its daemon's, match.
            if (who, key) != ("supervisor", "environ"):
                assert served[who][key] == alone[who][key], (who, key)


@pytest.mark.parametrize("wrapper", [["setpriv", "--no-new-privs"], ["unshare", "--uts"]],
                         ids=["no-new-privs", "uts-namespace"])
def test_the_client_does_not_use_a_server_that_cannot_match(sandbox, wrapper):
    """A fork cannot carry no_new_privs (or a seccomp filter, an LSM label)
    or another namespace over: --start forks the supervisor itself."""
    sb = sandbox("ours")
    svc = "fsref"
    sb.install_script(svc, CTX_SCRIPT, CONF_INHERITS)
    caller = CALLER.replace("exec rc-service", "exec %s rc-service" % " ".join(wrapper))
    alone = start_and_look(sb, svc, caller)
    start_server(sb)
    served = start_and_look(sb, svc, caller)
    assert not alone["forked_by_server"] and not served["forked_by_server"]
    if wrapper[0] == "setpriv":
        assert served["daemon"]["status"]["NoNewPrivs"] == "1"
    for key in alone["daemon"]:
        if key != "links" or wrapper[0] == "setpriv":    # a new uts namespace each time
            assert served["daemon"][key] == alone["daemon"][key], key


# -- --merge-pages ------------------------------------------------------------------

def merged_mappings(sb, pid):
    """Names of the mappings of pid that are marked for same-page merging
    ("mg" in VmFlags of /proc/PID/smaps)."""
    marked, name = [], None
    for line in sb.run("cat", "/proc/%d/smaps" % pid).stdout.splitlines():
        first = line.split(None, 1)[0]
        if "-" in first and not first.endswith(":"):
            parts = line.split(None, 5)
            name = parts[5].strip() if len(parts) > 5 else "[anon]"
        elif first == "VmFlags:" and "mg" in line.split()[1:]:
            marked.append(name)
    return marked


def test_merge_pages_marks_the_supervisors_and_not_their_daemons(sandbox, tmp_path):
    import os
    if not os.path.exists("/sys/kernel/mm/ksm/run"):
        pytest.skip("this kernel has no same-page merging (CONFIG_KSM): nothing to mark")
    with open("/sys/kernel/mm/ksm/run") as f:
        run_before = f.read()
    sb = sandbox("ours")
    log = str(tmp_path / "server.log")
    sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK, "--merge-pages", log=log)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    for svc in ("ma", "mb"):
        sb.install_script(svc, SCRIPT)
        assert sb.rc(svc, "start").returncode == 0
        sup = supervisor_pid(sb, svc)
        assert comm(sb, sup) == "sv-" + svc
        marked = merged_mappings(sb, sup)
        assert "[heap]" in marked and marked.count("[anon]") > 0, marked
        # exec drops the marks: the daemon is not changed by the option
        daemon = int(sb.value(svc, "child_pid"))
        assert merged_mappings(sb, daemon) == []
        # Where the kernel says (ksm_stat, 6.x), the same in its words.
        if "ksm_mergeable:" in (sb.read("/proc/%d/ksm_stat" % sup) or ""):
            assert "ksm_mergeable: yes" in sb.read("/proc/%d/ksm_stat" % sup)
            assert "ksm_mergeable: no" in sb.read("/proc/%d/ksm_stat" % daemon)
            assert "ksm_merge_any: yes" not in sb.read("/proc/%d/ksm_stat" % daemon)
    with open("/sys/kernel/mm/ksm/run") as f:
        assert f.read() == run_before                        # never switched on by us
    with open(log) as f:
        said = f.read()
    if run_before.strip() != "1":
        assert said.count("KSM is not running") == 1, said   # said once, then carried on
    else:
        assert said == ""
    for svc in ("ma", "mb"):
        assert sb.rc(svc, "stop").returncode == 0


def test_the_init_script_passes_merge_pages_from_conf_d(sandbox):
    """init.d-helpers/openrc-sv-forkserver through real openrc-run:
    forkserver_merge_pages=yes in conf.d reaches the server as --merge-pages."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "init.d-helpers", "openrc-sv-forkserver")) as f:
        script = f.read()
    sb = sandbox("ours")
    sb.install_script("openrc-sv-forkserver", script,
                      "forkserver_bin=%s\nforkserver_merge_pages=yes\n" % our_script("openrc-sv-forkserver"))
    r = sb.rc("openrc-sv-forkserver", "--nodeps", "start")      # no localmount in a sandbox
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    server = int(sb.value("openrc-sv-forkserver", "child_pid"))
    argv = sb.read("/proc/%d/cmdline" % server).split("\0")
    assert argv[-3:] == ["/run/openrc-sv/forkserver.sock", "--merge-pages", ""]
    sb.install_script("mc", SCRIPT)
    assert sb.rc("mc", "start").returncode == 0
    sup = supervisor_pid(sb, "mc")
    assert comm(sb, sup) == "sv-mc"
    if os.path.exists("/sys/kernel/mm/ksm/run"):
        assert "[heap]" in merged_mappings(sb, sup)
    assert sb.rc("mc", "stop").returncode == 0
    assert sb.rc("openrc-sv-forkserver", "--nodeps", "stop").returncode == 0


# -- the request's environment, kept without making it the supervisor's own -----------

ENV_SCRIPT = """#!/sbin/openrc-run
supervisor=supervise-daemon
command=/bin/sleep
command_args=1000
healthcheck_timer=1
healthcheck() {
    # What the supervisor passed to openrc-run (which filters what it passes on)
    tr '\\0' '\\n' < /proc/$PPID/environ | sort > /run/%(svc)s.hc.new
    mv /run/%(svc)s.hc.new /run/%(svc)s.hc
}
"""
# nice makes every respawn a fork (posix_spawn cannot renice): the
# daemon's setup is then made in the forked child, from the request's
# environment.
ENV_CONF = "export SSD_NICELEVEL=3 ENV_FROM_CONF=conf\n"
# What the server's own environment has that no service's may get: its own
# init script's name (openrc-run exported it), a variable of its own, a
# LANG other than the callers'.
SERVER_ENV = {"RC_SERVICE": "/etc/init.d/openrc-sv-forkserver", "RC_SVCNAME": "openrc-sv-forkserver",
              "FS_SERVER_ONLY": "server", "LANG": "POSIX"}


def per_run(variables):
    """Without the values that differ from one start to the next: pids
    (openrc-run's RC_OPENRC_PID, RC_RUNSCRIPT_PID), the re-exec's hand-off."""
    return [v.split("=")[0] if v.split("=")[0].endswith("_PID") or v.startswith("OPENRC_SV_REEXEC=")
            else v for v in variables]


def environ_of(sb, pid):
    return per_run(sorted(v for v in sb.read("/proc/%d/environ" % pid).split("\0") if v))


def health_env(sb, svc):
    """The environment of the service's next health check."""
    path = "/run/%s.hc" % svc
    sb.run("rm", "-f", path, check=True)
    wait_for(lambda: sb.exists(path), 10, what="a health check of %s" % svc)
    return per_run(sb.read(path).splitlines())


def look_at_environments(sb, svc):
    """The environments of everything the supervisor starts or becomes:
    its daemon (start, forked respawn), its health checks, and itself
    re-executed (SIGHUP) with what it respawns then."""
    assert sb.rc(svc, "start").returncode == 0
    sup = supervisor_pid(sb, svc)
    seen = {"forked_by_server": comm(sb, sup) == "sv-" + svc}
    first = int(sb.value(svc, "child_pid"))
    seen["daemon"] = environ_of(sb, first)
    seen["health"] = health_env(sb, svc)
    sb.run("kill", "-9", str(first), check=True)
    wait_for(lambda: sb.value(svc, "child_pid") not in (None, str(first)), 10, what="respawn")
    seen["respawned"] = environ_of(sb, int(sb.value(svc, "child_pid")))
    sb.run("kill", "-HUP", str(sup), check=True)
    wait_for(lambda: "--reexec" in sb.read("/proc/%d/cmdline" % sup).split("\0"), 10,
             what="the supervisor's re-exec")
    seen["reexec"] = environ_of(sb, sup)
    seen["health_after"] = health_env(sb, svc)
    daemon = int(sb.value(svc, "child_pid"))
    sb.run("kill", "-9", str(daemon), check=True)
    wait_for(lambda: sb.value(svc, "child_pid") not in (None, str(daemon)), 10,
             what="respawn by the re-executed supervisor")
    seen["respawned_after"] = environ_of(sb, int(sb.value(svc, "child_pid")))
    assert sb.rc(svc, "stop").returncode == 0
    wait_for(lambda: not sb.alive(sup), 10, what="supervisor exit")
    return seen


def test_a_served_supervisor_passes_on_the_requests_environment_not_the_servers(sandbox):
    """The fork server's supervisor reads the request's environment without
    making it its own (leanstart): the daemon, each respawn, the health
    checks and the supervisor re-executed on SIGHUP see exactly what they
    see under a supervisor forked by --start, and nothing of the server's."""
    sb = sandbox("ours")
    svc = "fsenv"
    sb.install_script(svc, ENV_SCRIPT % {"svc": svc}, ENV_CONF)
    alone = look_at_environments(sb, svc)
    server = sb.spawn(our_script("openrc-sv-forkserver"), "--socket", SOCK, env=SERVER_ENV)
    wait_for(lambda: sb.exists(SOCK), 10, what="fork server socket")
    served = look_at_environments(sb, svc)
    assert not alone["forked_by_server"] and served["forked_by_server"]
    # Not vacuous: the service's and the caller's variables are there.
    assert "ENV_FROM_CONF=conf" in served["daemon"] and "LANG=C.UTF-8" in served["daemon"]
    assert "RC_SVCNAME=%s" % svc in served["reexec"]
    for key in ("health", "health_after"):
        assert "LANG=C.UTF-8" in served[key] and "RC_SVCNAME=%s" % svc in served[key]
    for key in set(alone) - {"forked_by_server"}:
        assert served[key] == alone[key], key
        assert "FS_SERVER_ONLY" not in str(served[key]) and "LANG=POSIX" not in served[key], key
    server.kill()
    server.wait()
