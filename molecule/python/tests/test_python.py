"""The python role: interpreter, venv support, build dependencies, extra packages."""


# Each supported release's own Python.
RELEASE_PYTHON = {"trixie": "3.13", "bookworm": "3.11"}


def test_interpreter_is_the_distribution_one(host):
    assert host.package("python3").is_installed
    out = host.check_output("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
    assert out == RELEASE_PYTHON[host.system_info.codename]


def test_a_venv_can_be_created_and_installs_with_pip(host):
    r = host.run(
        "rm -rf /tmp/v && python3 -m venv /tmp/v && /tmp/v/bin/pip --version && /tmp/v/bin/python -c 'import sys; print(sys.prefix)'"
    )
    assert r.rc == 0, r.stderr
    assert r.stdout.strip().endswith("/tmp/v")


def test_build_dependencies_compile_an_extension(host):
    for pkg in ("build-essential", "python3-dev", "libffi-dev", "libssl-dev"):
        assert host.package(pkg).is_installed, pkg
    # Python.h is there and the compiler links against it.
    r = host.run(
        "printf '#include <Python.h>\\nint main(void){Py_Initialize();return 0;}' > /tmp/t.c && "
        "gcc /tmp/t.c -o /tmp/t $(python3-config --includes) $(python3-config --embed --ldflags) && /tmp/t"
    )
    assert r.rc == 0, r.stderr


def test_extra_packages_are_installed(host):
    assert host.package("libpq5").is_installed
