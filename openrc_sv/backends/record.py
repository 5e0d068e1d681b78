"""Plain record classes: what @dataclass gave the model and the backends'
Status, without importing dataclasses.

`import dataclasses` pulls in inspect, ast, dis, tokenize, enum and re, and
`typing` comes with it: about 15 ms of the runscript plugin's every start,
stop and status (issue 10), for three classes.  A Record subclass lists
its fields once, in order, with their defaults:

    class Point(Record):
        RECORD_FIELDS = (("x", REQUIRED), ("y", 0), ("tags", new(list)))

and gets what the dataclasses did for us: keyword or positional
construction in that order, a fresh list/dict per instance for new(...)
defaults, == over the fields, and a repr naming them.
"""

REQUIRED = object()


class new:
    """A default made afresh for each instance: new(list), new(dict)."""
    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


class Record:
    RECORD_FIELDS = ()

    def __init__(self, *args, **kwargs):
        fields = self.RECORD_FIELDS
        if len(args) > len(fields):
            raise TypeError("%s takes at most %d arguments (%d given)"
                            % (type(self).__name__, len(fields), len(args)))
        for (name, _), value in zip(fields, args):
            if name in kwargs:
                raise TypeError("%s got two values for %s" % (type(self).__name__, name))
            kwargs[name] = value
        for name, default in fields:
            if name in kwargs:
                value = kwargs.pop(name)
            elif default is REQUIRED:
                raise TypeError("%s needs %s" % (type(self).__name__, name))
            elif type(default) is new:
                value = default.make()
            else:
                value = default
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(kwargs))))
        self.__post_init__()

    def __post_init__(self):
        pass

    def _values(self):
        return tuple(getattr(self, name) for name, _ in self.RECORD_FIELDS)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None     # mutable, as a dataclass without frozen=True

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % (name, getattr(self, name))
                                     for name, _ in self.RECORD_FIELDS))
