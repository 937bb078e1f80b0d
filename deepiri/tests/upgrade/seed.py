# Seeds realistic data through the public API of the release whose tree is on sys.path
# (see deepiri/tests/test_upgrade.py).
from client import STATE, Api, connect_github, done  # noqa: F401

users = []
for i in range(6):
    email = f"upgrade-user-{i}@example.com"
    data = Api().post(
        "/api/auth/register",
        {"name": f"Upgrade User {i}", "email": email, "password": "correct horse battery staple", "timezone": ["UTC", "Europe/Paris", "America/New_York"][i % 3]},
    )["data"]
    users.append({"email": email, "id": data["user"]["id"], "token": data["token"], "refresh": data["refreshToken"]})

for i, user in enumerate(users):
    api = Api(user["token"])
    task_ids = []
    for n in range(10):
        body = {
            "title": f"Task {n} of user {i}",
            "description": f"Realistic description {n} " * (n + 1),
            "priority": ["low", "medium", "high", "urgent"][n % 4],
            "tags": [f"tag{n % 3}", "upgrade"],
            "estimatedDuration": 15 * (n + 1),
        }
        task_ids.append(api.post("/api/tasks", body)["data"]["id"])
    # completions: ledger rows, level-ups, badges (first task...), streaks, notifications
    for task_id in task_ids[: 3 + i % 4]:
        api.post(f"/api/tasks/{task_id}/complete", {"actualDuration": 20, "notes": "done"})
    # challenges on two open tasks; the first one started and completed
    challenge_ids = []
    for task_id in task_ids[-2:]:
        challenge = api.post("/api/challenges/generate", {"taskId": task_id}, expect=(201, 202))["data"]
        challenge_ids.append(challenge["id"])
    api.post(f"/api/challenges/{challenge_ids[0]}/start", expect=(200, 201))
    api.post(
        f"/api/challenges/{challenge_ids[0]}/complete",
        {"completionTime": 120, "score": 90, "accuracy": 95, "attemptsUsed": 1, "hintsUsed": 0},
    )
    user["task_ids"] = task_ids
    user["challenge_task_id"] = task_ids[-1]

# friends: an accepted friendship and a pending request
Api(users[0]["token"]).post("/api/users/friends", {"friendId": users[1]["id"]}, expect=(200, 201, 202))
Api(users[2]["token"]).post("/api/users/friends", {"friendId": users[0]["id"]}, expect=(200, 201, 202))

# an encrypted integration connection with imported tasks
github_api = Api(users[0]["token"])
connect_github(github_api)
sync = github_api.post("/api/integrations/github/sync", expect=(200, 202))

# a second refresh token in the same family (rotation) and a logged-out one
rotated = Api().post("/api/auth/refresh", {"refreshToken": users[3]["refresh"]})["data"]
users[3]["refresh"] = rotated["refreshToken"]
users[3]["token"] = rotated["token"]
Api(users[5]["token"]).post("/api/auth/logout", {"refreshToken": users[5]["refresh"]})
users[5]["logged_out"] = True

done({"users": users, "sync_status": sync.get("data", {}).get("run", {}).get("status")})
