"""openrc-sv render SVC [--backend B]: show what a backend would write.

Nothing is written: backends render purely.  Each file is printed after a
header line naming its path and mode; a backend that writes no files (the
native one) says so and shows the command line start would run instead.
"""

from . import evaluate


def render(service, backend_name=None):
    ev = evaluate.evaluation(service)
    model = evaluate.model(service, ev)
    backend = evaluate.backend_for(model, backend_name)
    files = backend.render()
    for f in files:
        print("==> %s (mode %04o) <==" % (f.path, f.mode))
        content = f.content
        print(content, end="" if content.endswith("\n") else "\n")
    if not files:
        print("# the %s backend writes no files" % backend.name)
    describe = getattr(backend, "describe", None)
    if describe:
        print("# start runs: %s" % describe())
    return 0
