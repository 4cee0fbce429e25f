# The set-up commands: `make run` (the embedded stack in the foreground), `make test` (needs only
# Python: the embedded broker) and `make test-kafka` (needs Java 17 and Maven: the Apache Kafka tier).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

KAFKA_POM := infra/kafka/apache/pom.xml
KAFKA_JARS := infra/kafka/apache/lib/.copied

.PHONY: run test test-kafka lint clean kafka-jars

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/logstream up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not kafka" -n 2 --dist loadfile

# Three Apache Kafka nodes from Maven Central's jars: the pipeline's e2e tests again, and the faults
# only a real cluster has (tests marked kafka); the shared cluster's tests on one worker, the faults'
# clusters on the other (tests/conftest.py).
test-kafka: $(STAMP) $(KAFKA_JARS)
	$(BIN)/pytest -m kafka -n 2 --dist loadgroup

# Apache Kafka's jars from Maven Central (needs Java 17+ and Maven); Maven caches the downloads.
$(KAFKA_JARS): $(KAFKA_POM)
	rm -rf infra/kafka/apache/lib
	mvn -q -B -f $(KAFKA_POM) dependency:copy-dependencies
	touch $(KAFKA_JARS)

kafka-jars: $(KAFKA_JARS)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .hypothesis .import_linter_cache
