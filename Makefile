# Quick start:  make run   (set up and start the portal with the demo data, SQLite)
#               make test  (set up and run the whole test suite, browser tests included)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-fast setup install translations messages chromium bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The English option: compile the translations (the .po files are the source), only when
# a .po changed (CI runs the suite twice side by side: no .mo rewritten under a running one).
MO = portal/translations/en/LC_MESSAGES/messages.mo
translations: $(MO)
$(MO): portal/translations/en/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile -f -d portal/translations

# After changing texts: extract them and merge into the .po files, then translate.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations

install: $(VENV)/.installed translations

setup: install
	$(BIN)/flask --app app setup

run: setup
	@echo ""
	@echo "  Cổng chi trả không dùng tiền mặt: http://$(HOST):$(PORT)/"
	@echo "  Tài khoản mẫu (mật khẩu: demo): admin, province, commune, chairman, police, payer, district"
	@echo "  Dữ liệu mẫu: tháng 12/2026 (sau sắp xếp đơn vị hành chính 2025); chọn tháng cũ để xem 2024"
	@echo ""
	@# The background jobs' worker beside the portal (the queue: instance/jobs.db), stopped with it.
	$(BIN)/flask --app app worker & worker=$$!; trap 'kill -INT $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/flask --app app run --host $(HOST) --port $(PORT)

chromium:
	@scripts/ensure-chromium

test: install chromium
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not browser"

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache
