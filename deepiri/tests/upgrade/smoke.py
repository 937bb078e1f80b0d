# The smoke journey, with whichever release's code is on sys.path, on whatever schema the
# database has (see deepiri/tests/test_upgrade.py). STATE: the seeded users,
# and which of them this run uses (`who`: its refresh token is rotated here, so each run takes
# another user's).
from client import STATE, Api, connect_github, done  # noqa: F401

users = STATE["users"]
me = users[STATE["who"]]

# old tokens: the access token issued before the upgrade, and its refresh token
verify = Api(me["token"]).get("/api/auth/verify")["data"]
assert verify["user"]["id"] == me["id"], verify
fresh = Api().post("/api/auth/refresh", {"refreshToken": me["refresh"]})["data"]
api = Api(fresh["token"])
# a logged-out refresh token stays dead
Api().post("/api/auth/refresh", {"refreshToken": users[5]["refresh"]}, expect=(401,))

# list (with the task -> challenge link), complete, create
tasks = api.get("/api/tasks?limit=100")["data"]
assert len(tasks) >= 10, len(tasks)
by_id = {t["id"]: t for t in tasks}
assert by_id[me["challenge_task_id"]]["challengeId"], by_id[me["challenge_task_id"]]
pending = [t for t in tasks if t["status"] != "completed"]
completed = api.post(f"/api/tasks/{pending[0]['id']}/complete", {"actualDuration": 5})["data"]
assert completed["status"] == "completed", completed
created = api.post("/api/tasks", {"title": "Written during the rolling deploy", "priority": "high"})["data"]
assert api.get(f"/api/tasks/{created['id']}")["data"]["title"] == "Written during the rolling deploy"

# gamification reads
board = api.get("/api/gamification/leaderboard?period=all")
assert len(board["data"]) >= 5, board
profile = api.get("/api/gamification/profile")["data"]
assert profile["points"] > 0, profile
challenges = api.get("/api/challenges")["data"]
assert len(challenges) >= 2 and any(c["status"] == "completed" for c in challenges), challenges
notifications = api.get("/api/notifications")["data"]
assert notifications, "the badges and level-ups of the seed notified nobody"

# a sync against the fake provider (the parent test added an issue for this run)
github = Api(users[0]["token"])  # issued before the upgrade, still within its lifetime
sync = github.post("/api/integrations/github/sync", expect=(200, 202))
titles = {t["title"] for t in github.get("/api/tasks?limit=100&source=github")["data"]}
assert STATE["new_issue"] in titles, (STATE["new_issue"], titles, sync)

done({"completed": completed["id"], "created": created["id"], "board": len(board["data"]), "sync": sync.get("data", {}).get("run", {})})
