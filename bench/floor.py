"""The HTTP floor: a plain uvicorn route that reads the body and answers 202, served the same way
as the producer. `python -m bench.floor PORT`."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

app = FastAPI()


@app.post("/v1/logs")
async def accept(request: Request) -> Response:
    await request.body()
    return Response(b'{"accepted":true}', status_code=202, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
