# The two set-up commands: `make run` (the embedded stack in the foreground) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

KAFKA_POM := infra/kafka/apache/pom.xml
KAFKA_JARS := infra/kafka/apache/lib/.copied

.PHONY: run test lint clean kafka-jars

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/logstream up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

# Apache Kafka's jars from Maven Central (needs Java 17+ and Maven); Maven caches the downloads.
$(KAFKA_JARS): $(KAFKA_POM)
	rm -rf infra/kafka/apache/lib
	mvn -q -B -f $(KAFKA_POM) dependency:copy-dependencies
	touch $(KAFKA_JARS)

kafka-jars: $(KAFKA_JARS)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .hypothesis
