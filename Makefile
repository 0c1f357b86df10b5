# Pallet: `make demo` to try it, `make test` to run the suite (as root on Debian 12).
# etcd-server is only the binary the cluster tests start on their own ports: the system etcd
# service its package enables is stopped and disabled when this Makefile installs it.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := runc busybox-static iptables iproute2 procps python3-venv skopeo docker-registry tini zsh systemd etcd-server

.PHONY: install demo test lint buf-lint protos

install: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		case "$$missing" in *etcd-server*) systemctl disable --now etcd >/dev/null 2>&1 || true;; esac; \
	fi
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	tools/docker-cli.sh $(VENV)/docker-cli
	touch $(STAMP)

demo: install
	./deploy/demo.sh

test: install
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/pytest -q -ra --durations=25 tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy common services shim clients

# buf (from npm) checks the protos; not part of `make test`.
buf-lint:
	npx --yes @bufbuild/buf lint

protos: install
	$(PY) tools/genprotos.py
