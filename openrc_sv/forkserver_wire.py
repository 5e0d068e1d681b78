"""The fork server's wire format: one home for both ends.

The client (forkserver_client, in `supervise-daemon --start`) sends the
report pipe's write end by SCM_RIGHTS and one message of NUL-separated
fields:

    N, argv[0..N-1]            the supervise-daemon argv
    M, NAME=VALUE x M          the environment
    cwd, umask (octal)
    K, keys x K                options/SVC keys to remove on failure
    W, paths x W               files to remove on failure
    "."                        the end (a cut-short request is refused)

The supervisor's worker (leanstart) answers b"OK" once the supervisor and
the worker have taken on the requester's context, or b"NO" and a reason if
it refused; then it closes the connection.  cwd and umask are what the client says; the server
takes both from /proc/PID of the requester instead (see forkserver_context)
and uses the umask sent only on kernels without "Umask:" in
/proc/PID/status.  Strings travel as UTF-8 with surrogateescape, so any
bytes do.
"""

SEP = "\0"
END = "."
OK = b"OK"
NO = b"NO"

# Seconds the server waits for a forked supervisor to take on the
# requester's context; the client waits longer, so that it never forks a
# supervisor of its own while the server's may still start.
READY_TIMEOUT = 20
CLIENT_TIMEOUT = READY_TIMEOUT + 10


def encode(argv, env, cwd, umask, keys, written):
    fields = [str(len(argv))] + list(argv)
    pairs = ["%s=%s" % kv for kv in env.items()]
    fields += [str(len(pairs))] + pairs
    fields += [cwd, "%o" % umask]
    fields += [str(len(keys))] + list(keys) + [str(len(written))] + list(written)
    fields.append(END)
    return SEP.join(fields).encode("utf-8", "surrogateescape")


def decode(data):
    """(argv, env, cwd, umask, keys, written); ValueError if malformed."""
    f = data.decode("utf-8", "surrogateescape").split(SEP)
    i = 0

    def take(n):
        nonlocal i
        if n < 0 or i + n > len(f):
            raise ValueError("truncated fork server request")
        out = f[i:i + n]
        i += n
        return out
    argv = take(int(take(1)[0]))
    env = dict(e.split("=", 1) for e in take(int(take(1)[0])))
    cwd, umask = take(2)
    keys = take(int(take(1)[0]))
    written = take(int(take(1)[0]))
    if take(1) != [END] or i != len(f):
        raise ValueError("trailing fields in fork server request")
    return argv, env, cwd, int(umask, 8), keys, written
