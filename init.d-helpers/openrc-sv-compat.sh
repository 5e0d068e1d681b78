# openrc-sv compat shim (openrc-sv-compat 1)
#
# Installed as /etc/rc.conf.d/openrc-sv-compat.conf by
#     openrc-sv setup --supervise-daemon --compat-shim
# on an OpenRC older than 0.62, whose supervise-daemon.sh does not pass
# what current OpenRC passes for
#
#     input_file=FILE          --stdin FILE                  (OpenRC < 0.62)
#     output_logger="CMD ..."  --stdout-logger "CMD ..."     (OpenRC < 0.51)
#     error_logger="CMD ..."   --stderr-logger "CMD ..."     (OpenRC < 0.51)
#
# so those variables silently did nothing.  no_new_privs needs no help: 0.45
# passes --no_new_privs, which OpenRC's C binary rejects but openrc-sv's
# supervise-daemon accepts (which is also why this shim goes with
# --supervise-daemon: OpenRC's own old binary knows none of these options).
#
# openrc-run sources every /etc/rc.conf.d/*.conf after openrc-run.sh has
# defined default_start and before supervise-daemon.sh defines
# supervise_start, so the shim cannot change supervise_start itself.  It
# defines default_start, which runs _openrc_sv_shim_start for
# supervisor=supervise-daemon and dispatches every other supervisor exactly
# as openrc-run.sh does.  The runscript plugin (openrc-sv.conf, sourced
# after this file) defines its own default_start and calls
# _openrc_sv_shim_start too.
#
# _openrc_sv_shim_start calls OpenRC's own supervise_start, with the missing
# options put in front of supervise_daemon_args for that one call (a local
# variable: the script's value is untouched afterwards).  supervise_start
# evals that variable just before the command, after all its own options,
# so every option keeps the meaning and the precedence it has on current
# OpenRC, and each value is evaluated exactly as current OpenRC evaluates
# it: input_file split as a bare word, a logger inside double quotes.
#
# Only function definitions and assignments of _openrc_sv_shim_* variables
# (never exported) live at the top level.  A service that sets none of the
# three variables, or whose supervisor is not supervise-daemon, runs exactly
# the functions it ran before.  Remove with `openrc-sv setup --undo`.

# Filled in by `openrc-sv setup` for the OpenRC it found:
# the OpenRC version (its $RC_LIBEXECDIR/version) the shim was made for; on
# any other it stands aside, so an upgraded OpenRC never gets options twice.
_openrc_sv_shim_openrc=
# what this OpenRC's supervise_start lacks: any of "stdin loggers".
_openrc_sv_shim_adds=
# yes where supervise_start uses start_stop_daemon_args when
# supervise_daemon_args is set but empty (OpenRC < 0.46), no where only
# when it is unset.
_openrc_sv_shim_empty_falls_back=

# Does the shim apply to this OpenRC?  Read when a service starts, not
# when this file is sourced: sourcing must stay free of side effects.
_openrc_sv_shim_current()
{
	local _openrc_sv_shim_v=
	[ -n "$_openrc_sv_shim_openrc" ] && [ -n "$RC_LIBEXECDIR" ] &&
		read -r _openrc_sv_shim_v 2>/dev/null < "$RC_LIBEXECDIR/version"
	[ -n "$_openrc_sv_shim_v" ] && [ "$_openrc_sv_shim_v" = "$_openrc_sv_shim_openrc" ]
}

_openrc_sv_shim_start()
{
	local _openrc_sv_shim_x= _openrc_sv_shim_rest=
	if [ -n "$command" ] && _openrc_sv_shim_current; then
		case " $_openrc_sv_shim_adds " in
		*" stdin "*)
			# Set, even to nothing, passes --stdin, as current OpenRC does.
			[ "${input_file+set}" = set ] &&
				_openrc_sv_shim_x="--stdin $input_file"
			;;
		esac
		case " $_openrc_sv_shim_adds " in
		*" loggers "*)
			[ -n "$output_logger" ] &&
				_openrc_sv_shim_x="$_openrc_sv_shim_x --stdout-logger \"$output_logger\""
			[ -n "$error_logger" ] &&
				_openrc_sv_shim_x="$_openrc_sv_shim_x --stderr-logger \"$error_logger\""
			;;
		esac
	fi
	if [ -z "$_openrc_sv_shim_x" ]; then
		# Nothing to add (or no command, which supervise_start reports).
		supervise_start
		return
	fi

	# The words supervise_start itself would take from these variables.
	if [ "${supervise_daemon_args+set}" != set ]; then
		_openrc_sv_shim_rest=$start_stop_daemon_args
	elif [ -z "$supervise_daemon_args" ] && [ "$_openrc_sv_shim_empty_falls_back" = yes ]; then
		_openrc_sv_shim_rest=$start_stop_daemon_args
	else
		_openrc_sv_shim_rest=$supervise_daemon_args
	fi
	local supervise_daemon_args="$_openrc_sv_shim_x $_openrc_sv_shim_rest"
	supervise_start
}

# With the runscript plugin loaded first, its default_start already calls
# _openrc_sv_shim_start: keep it.
if [ "$(command -v _openrc_sv_dispatch)" != _openrc_sv_dispatch ]; then
	default_start()
	{
		local func=ssd_start
		case "$supervisor" in
			runit) func=runit_start ;;
			s6) func=s6_start ;;
			supervise-daemon) func=_openrc_sv_shim_start ;;
			?*)
				ewarn "Invalid supervisor, \"$supervisor\", using start-stop-daemon"
				;;
		esac
		$func
	}
fi
