# Gentoo recipe for openrc-sv: copy it to <overlay>/sys-apps/openrc-sv/.
# There is no published release tarball yet, hence RESTRICT=fetch: make one
# from a checkout and put it in DISTDIR (see pkg_nofetch), then
# `ebuild openrc-sv-0.1.0.ebuild manifest`.

EAPI=8

DISTUTILS_USE_PEP517=setuptools
PYTHON_COMPAT=( python3_{10..13} )

inherit distutils-r1

DESCRIPTION="Process supervisor for OpenRC: a drop-in supervise-daemon and native, runit and monit backends"
# HOMEPAGE: no public home page yet; set it when the project is published.
HOMEPAGE=""
SRC_URI="${P}.tar.gz"
RESTRICT="fetch"

LICENSE="BSD-2"
SLOT="0"
KEYWORDS="~amd64"

RDEPEND="
	sys-apps/openrc
	dev-python/jinja2[${PYTHON_USEDEP}]
	dev-python/sh[${PYTHON_USEDEP}]
"

distutils_enable_tests pytest

pkg_nofetch() {
	einfo "Make ${P}.tar.gz from an openrc-sv checkout and put it in your DISTDIR:"
	einfo "  git archive --prefix=${P}/ -o ${P}.tar.gz HEAD"
}

python_test() {
	# The unit tier only: the integration tier needs namespaces and root.
	epytest -p no:cacheprovider tests/unit
}

python_install() {
	distutils-r1_python_install
	# The wheel carries the man pages and the init script under /usr/share
	# for pip users; this package installs them once, the Gentoo way, below.
	rm -r "${ED}"/usr/share/man "${ED}"/usr/share/openrc-sv || die
}

python_install_all() {
	distutils-r1_python_install_all
	newinitd init.d-helpers/openrc-sv-forkserver openrc-sv-forkserver
	newconfd dist/openrc-sv-forkserver.confd openrc-sv-forkserver
	doman man/openrc-sv.8 man/supervise-daemon.8 man/openrc-sv-run.5
}

pkg_postinst() {
	elog "openrc-sv is installed but not active; nothing was changed for OpenRC."
	elog "  openrc-sv setup --supervise-daemon  makes it the supervise-daemon openrc-run uses"
	elog "  openrc-sv setup --plugin            enables supervisor=openrc-sv in init scripts"
	elog "  openrc-sv setup --undo              puts everything back"
	elog "Optional: rc-update add openrc-sv-forkserver boot"
}
