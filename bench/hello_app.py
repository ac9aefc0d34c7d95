"""The baseline: a bare FastAPI hello, served the same way as Nox."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
