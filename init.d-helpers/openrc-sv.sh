# openrc-sv runscript plugin (openrc-sv-plugin 1)
#
# Installed as /etc/rc.conf.d/openrc-sv.conf by `openrc-sv setup --plugin`;
# openrc-run sources every /etc/rc.conf.d/*.conf after openrc-run.sh has
# defined its default_start/default_stop/default_status and before the
# supervisor modules and the service script.  Redefining those three here
# (plus default_reload and reload, which OpenRC 0.45 lacks) lets
#
#     supervisor=openrc-sv
#     sv_backend=native        # or runit, monit
#
# in an init script or its conf.d run the service through `openrc-sv`, while
# every other supervisor= value is dispatched exactly as openrc-run.sh does.
# The supervisor variable is read when the function runs, so start_pre() or
# conf.d may still change it.
#
# Only function definitions and two assignments live at the top level
# (sourcex, openrc-run.sh's loader, is redefined to the same effect):
# `openrc-sv` also sources this file to borrow _openrc_sv_dump.
#
# To use `rc-service SVC reload`, the script must list reload in
# extra_started_commands: openrc-run only runs listed commands.

# The openrc-sv command.  `openrc-sv setup --plugin` replaces this line with
# the absolute path of the command that installed it, because openrc-run
# filters PATH and a virtualenv's bin/ is not on it.
_openrc_sv_bin=openrc-sv

# ---------------------------------------------------------------------------
# The model, as this very shell evaluated it.
#
# _openrc_sv_dump [--start] writes NUL-separated records to stdout:
#     openrc-sv-model 1           header and format version
#     V NAME VALUE                every set shell variable
#     W                           the words below were evaluated (--start)
#     A WORD                      one word of command_args command_args_foreground
#     S WORD                      one word of supervise_daemon_args
#     E VARIABLE MESSAGE          the shell could not evaluate VARIABLE
#     F NAME                      the script itself defines function NAME
#     END                         nothing was cut short
# A NUL cannot occur in a shell value, so no value can forge a record.
# The A and S words are evaluated only with --start: supervise_start is
# the only place openrc-run evals them (a `$(...)` in command_args runs
# once per start, never at stop or status).
# ---------------------------------------------------------------------------
_openrc_sv_dump()
{
	printf '%s\0' openrc-sv-model 1

	# `set` prints every variable as NAME='quoted value'.  A line inside a
	# multi-line value can look like NAME=... too, so a name is kept only if
	# such a variable is really set; the names we check are plain
	# identifiers, so the eval below cannot run anything.  The lines are
	# split here, on newlines with globbing off, not read with `read`:
	# a shell reads a pipe one byte at a time, a syscall per byte of every
	# value, on each start, stop and status (issue 10).
	_openrc_sv_set=$(set)
	# IFS is put back as it was: unset (the default splitting) stays unset.
	if [ "${IFS+set}" = set ]; then
		_openrc_sv_ifs=$IFS _openrc_sv_ifs_set=yes
	else
		_openrc_sv_ifs_set=no
	fi
	case $- in
		*f*) _openrc_sv_noglob=yes ;;
		*) _openrc_sv_noglob=no; set -f ;;
	esac
	IFS='
'
	for _openrc_sv_line in $_openrc_sv_set; do
		case "$_openrc_sv_line" in
			[A-Za-z_]*=*) ;;
			*) continue ;;
		esac
		_openrc_sv_name=${_openrc_sv_line%%=*}
		case "$_openrc_sv_name" in
			*[!A-Za-z0-9_]*|_openrc_sv_*) continue ;;
		esac
		eval "[ \"\${$_openrc_sv_name+set}\" = set ]" || continue
		eval "printf '%s\0' V \"\$_openrc_sv_name\" \"\${$_openrc_sv_name}\""
	done
	if [ "$_openrc_sv_ifs_set" = yes ]; then
		IFS=$_openrc_sv_ifs
	else
		unset IFS
	fi
	[ "$_openrc_sv_noglob" = yes ] || set +f
	unset _openrc_sv_set

	if [ "$1" = --start ]; then
		# The words of exactly the eval supervise_start does:
		#     eval supervise-daemon ... ${supervise_daemon_args:-...} \
		#         $command -- $command_args $command_args_foreground
		# The unquoted values are split on IFS and globbed first, and the
		# words are joined by single spaces before eval parses them again:
		# a newline separates words and never ends a command, quotes group
		# words, and "a  b" loses a space, exactly as under openrc-run.
		# Each runs in a subshell, with anything it prints sent to stderr,
		# so that a syntax error or a stray command cannot spoil the records.
		printf '%s\0' W
		_openrc_sv_words A command_args $command_args $command_args_foreground
		_openrc_sv_words S supervise_daemon_args \
			${supervise_daemon_args:-${start_stop_daemon_args}}
	fi

	# supervise-daemon.sh defines healthcheck() and unhealthy() as no-ops
	# before the script is loaded, so "defined" says nothing.  sourcex
	# (below) noted which of the two the script defined as it loaded it.
	# A script loaded some other way is loaded again, in a subshell, with
	# both removed: whatever is defined afterwards, the script defined.
	if [ "${_openrc_sv_functions+set}" = set ]; then
		for _openrc_sv_f in $_openrc_sv_functions; do
			printf '%s\0' F "$_openrc_sv_f"
		done
	else
		(
			exec 9>&1 >/dev/null 2>&1
			unset -f healthcheck unhealthy
			. "$RC_SERVICE"
			for _openrc_sv_f in healthcheck unhealthy; do
				_openrc_sv_defined "$_openrc_sv_f" &&
					printf '%s\0' F "$_openrc_sv_f" >&9
			done
		)
	fi

	printf '%s\0' END
}

# _openrc_sv_words TAG VARIABLE WORDS...: eval "set --" WORDS, as the
# caller's unquoted expansion left them, and print each word as TAG.
_openrc_sv_words()
{
	_openrc_sv_tag=$1 _openrc_sv_var=$2
	shift 2
	if ! (
		exec 9>&1 >&2
		eval set -- "$@" || exit 1
		for _openrc_sv_word; do
			printf '%s\0' "$_openrc_sv_tag" "$_openrc_sv_word" >&9
		done
	); then
		printf '%s\0' E "$_openrc_sv_var" \
			"the shell cannot split $_openrc_sv_var into words"
	fi
}

# _openrc_sv_defined NAME: is NAME a shell function?  None of the names
# asked about is a builtin, and with PATH=/dev/null no program is found
# (not a directory; an empty PATH would be the current directory, where
# openrc-run may well find a program called healthcheck), so `command -v`
# finds only a function (or an alias), without the subshell of a
# $(command -v NAME) comparison: a fork each, on every openrc-run.
_openrc_sv_defined()
{
	PATH=/dev/null command -v "$1" >/dev/null 2>&1
}

# openrc-run.sh loads every file with sourcex, the script last, after
# supervise-daemon.sh has defined its no-op healthcheck() and unhealthy().
# The same function, noting which of the two the script itself defines:
# then the model needs no second load of the script.  A function the
# script does not define is the same no-op as before.
sourcex()
{
	if [ "$1" = "-e" ]; then
		shift
		[ -e "$1" ] || return 1
	fi
	if [ -z "$RC_SERVICE" ] || [ "$1" != "$RC_SERVICE" ]; then
		if ! . "$1"; then
			eerror "$RC_SVCNAME: error loading $1"
			exit 1
		fi
		return 0
	fi
	unset -f healthcheck unhealthy
	if ! . "$1"; then
		eerror "$RC_SVCNAME: error loading $1"
		exit 1
	fi
	_openrc_sv_functions=
	for _openrc_sv_f in healthcheck unhealthy; do
		if _openrc_sv_defined "$_openrc_sv_f"; then
			_openrc_sv_functions="$_openrc_sv_functions $_openrc_sv_f"
		else
			eval "$_openrc_sv_f() { return 0; }"
		fi
	done
}

# Hand the model to `openrc-sv VERB SVC` on its standard input.
_openrc_sv_run()
{
	if [ "$1" = start ]; then
		_openrc_sv_dump --start
	else
		_openrc_sv_dump
	fi | "$_openrc_sv_bin" "$@" --model - "$RC_SVCNAME"
}

# ---------------------------------------------------------------------------
# supervisor=openrc-sv
# ---------------------------------------------------------------------------
_openrc_sv_start()
{
	ebegin "Starting ${name:-$RC_SVCNAME}"
	_openrc_sv_run start
	eend $? "failed to start ${name:-$RC_SVCNAME}"
}

_openrc_sv_stop()
{
	ebegin "Stopping ${name:-$RC_SVCNAME}"
	_openrc_sv_run stop
	eend $? "Failed to stop ${name:-$RC_SVCNAME}"
}

_openrc_sv_reload()
{
	ebegin "Reloading ${name:-$RC_SVCNAME}"
	_openrc_sv_run reload
	eend $? "Failed to reload ${name:-$RC_SVCNAME}"
}

# OpenRC's own answers first, as supervise_status gives them; only a
# service OpenRC believes started is asked of its backend.
_openrc_sv_status()
{
	if service_stopping; then
		ewarn "status: stopping"
		return 4
	elif service_starting; then
		ewarn "status: starting"
		return 8
	elif service_inactive; then
		ewarn "status: inactive"
		return 16
	elif service_started; then
		_openrc_sv_dump | "$_openrc_sv_bin" status --quiet --model - "$RC_SVCNAME"
		case $? in
			0) einfo "status: started"; return 0 ;;
			8) ewarn "status: starting"; return 8 ;;
			64) eerror "status: unsupervised"; return 64 ;;
			3|32)
				# A backend that gives up marks the service stopped
				# (and failed) itself: if it did so since we looked,
				# the service is stopped, not crashed.
				if service_started; then
					eerror "status: crashed"; return 32
				fi
				einfo "status: stopped"; return 3 ;;
			*) return 1 ;;   # openrc-sv has printed why
		esac
	else
		einfo "status: stopped"
		return 3
	fi
}

# ---------------------------------------------------------------------------
# Every other supervisor: openrc-run.sh's own dispatch, unchanged.
# ---------------------------------------------------------------------------
_openrc_sv_dispatch()
{
	local func=ssd_$1
	case "$supervisor" in
		runit) func=runit_$1 ;;
		s6) func=s6_$1 ;;
		supervise-daemon)
			func=supervise_$1
			# The compat shim (openrc-sv-compat.conf, sourced before
			# this file) adds what an old OpenRC's supervise_start lacks.
			_openrc_sv_defined _openrc_sv_shim_$1 && func=_openrc_sv_shim_$1
			;;
		?*)
			ewarn "Invalid supervisor, \"$supervisor\", using start-stop-daemon"
			;;
	esac
	$func
}

# A service started through openrc-sv is stopped and queried through it
# even if supervisor= has changed since: openrc-sv recorded its backend
# (options/SVC/sv_backend), and only such a service has that record.
_openrc_sv_started_by_us()
{
	[ "$supervisor" = openrc-sv ] || [ -n "$(service_get_value sv_backend)" ]
}

default_start()
{
	if [ "$supervisor" = openrc-sv ]; then
		_openrc_sv_start
	else
		_openrc_sv_dispatch start
	fi
}

default_stop()
{
	if _openrc_sv_started_by_us; then
		_openrc_sv_stop
	else
		_openrc_sv_dispatch stop
	fi
}

default_status()
{
	if _openrc_sv_started_by_us; then
		_openrc_sv_status
	else
		_openrc_sv_dispatch status
	fi
}

# Newer openrc-run.sh has default_reload (s6 reloads, any other non-empty
# supervisor is an error, none at all does nothing) and reload() calling
# it.  0.45 has neither: a script listing reload without defining it gets
# openrc-run's "defined but does not exist".  openrc-run.sh is sourced
# before this file, so whether it defined default_reload tells which.
if _openrc_sv_defined default_reload; then
	_openrc_sv_openrc_reload=yes
else
	_openrc_sv_openrc_reload=no
fi

default_reload()
{
	if [ "$supervisor" = openrc-sv ]; then
		_openrc_sv_reload
		return
	fi
	if [ "$_openrc_sv_openrc_reload" = no ]; then
		eerror "$RC_SVCNAME: function \`reload' defined but does not exist"
		exit 1
	fi
	case "$supervisor" in
		s6)
			s6_reload
			;;
		?*)
			eerror "$RC_SVCNAME: undefined function 'reload'"
			exit 1
			;;
	esac
}

# A script's own reload() is defined after this file is sourced and wins.
reload()
{
	default_reload
}
