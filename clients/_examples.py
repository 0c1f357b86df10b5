"""The "examples:" section that ends each command's --help, as Docker's reference pages do.

EXAMPLES maps a command path ("create", "image ls", "compose up", "context" ...) to its example lines.
apply() puts them on the parsers that have none yet: a parser whose epilog already shows examples is
left alone, and one with only prose (cp, login) gets its examples after that prose. Every line must
parse as written (tests/unit/test_help_examples.py runs each through the real parser).

Stdlib only: palletctl builds its parser on every run.
"""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, str] = {
    # -- containers ----------------------------------------------------------------
    "create": """\
palletctl create --name web -p 8080:80 nginx:alpine
palletctl create -it --name shell -v data:/data alpine sh
palletctl create --name db -e POSTGRES_PASSWORD=secret --restart unless-stopped postgres:16""",
    "start": """\
palletctl start web
palletctl start web db
palletctl start -a job""",
    "attach": """\
palletctl attach web
palletctl attach --no-stdin web
palletctl attach --detach-keys ctrl-x shell""",
    "pause": """\
palletctl pause web
palletctl pause web worker""",
    "unpause": """\
palletctl unpause web
palletctl unpause web worker""",
    "cp": """\
palletctl cp web:/etc/nginx/nginx.conf ./nginx.conf
palletctl cp ./site web:/usr/share/nginx/html
palletctl cp web:/var/log/nginx - > nginx-logs.tar""",
    "port": """\
palletctl port web
palletctl port web 80/tcp""",
    "rename": """\
palletctl rename web web-old
palletctl rename 3f2a9c1d7b4e api""",
    "logs": """\
palletctl logs web
palletctl logs -f --tail 100 web
palletctl logs --since 10m -t web""",
    "stop": """\
palletctl stop web
palletctl stop -t 30 db
palletctl stop --signal SIGQUIT web worker""",
    "restart": """\
palletctl restart web
palletctl restart -t 5 web db""",
    "kill": """\
palletctl kill web
palletctl kill -s HUP web""",
    "rm": """\
palletctl rm web
palletctl rm -f web
palletctl rm -v job1 job2""",
    "wait": """\
palletctl wait job
palletctl wait job1 job2""",
    "inspect": """\
palletctl inspect web
palletctl inspect -f '{{.State.Status}}' web
palletctl inspect --type image alpine""",
    # -- images --------------------------------------------------------------------
    "images": """\
palletctl images
palletctl images alpine
palletctl images -q -f dangling=true
palletctl images --format '{{.Repository}}:{{.Tag}}'""",
    "rmi": """\
palletctl rmi app:1
palletctl rmi -f alpine:3.20 busybox""",
    "tag": """\
palletctl tag app:1 app:latest
palletctl tag app:1 localhost:5000/app:1""",
    "load": """\
palletctl load -i app.tar
palletctl load < app.tar
palletctl load -q -i images.tar""",
    "save": """\
palletctl save -o app.tar app:1
palletctl save alpine busybox > base-images.tar""",
    "history": """\
palletctl history app:1
palletctl history --no-trunc -H=false app:1
palletctl history --format '{{.ID}} {{.CreatedBy}}' alpine""",
    "login": """\
palletctl login localhost:5000
palletctl login -u alice registry.example.com:5000
palletctl login -u alice --password-stdin registry.example.com:5000 < token.txt""",
    "logout": """\
palletctl logout
palletctl logout localhost:5000""",
    # -- system --------------------------------------------------------------------
    "version": """\
palletctl version
palletctl version -f '{{.Server.Version}}'""",
    "info": """\
palletctl info
palletctl info -f '{{.Containers}} containers, {{.Images}} images'""",
    # -- image ---------------------------------------------------------------------
    "image": """\
palletctl image ls
palletctl image pull alpine:3.20
palletctl image rm app:1
palletctl image prune -a""",
    "image ls": """\
palletctl image ls
palletctl image ls -a --digests
palletctl image ls -f reference=app""",
    "image inspect": """\
palletctl image inspect alpine
palletctl image inspect -f '{{.Config.Cmd}}' alpine""",
    "image history": """\
palletctl image history app:1
palletctl image history --no-trunc -H=false app:1""",
    "image tag": """\
palletctl image tag app:1 app:latest
palletctl image tag app:1 localhost:5000/app:1""",
    "image rm": """\
palletctl image rm app:1
palletctl image rm -f busybox alpine:3.20""",
    "image prune": """\
palletctl image prune
palletctl image prune -a -f
palletctl image prune -a --filter until=24h""",
    "image save": """\
palletctl image save -o app.tar app:1
palletctl image save alpine busybox > base-images.tar""",
    "image load": """\
palletctl image load -i app.tar
palletctl image load < app.tar""",
    "image import": """\
palletctl image import rootfs.tar myimage:1.0
palletctl image import -c 'CMD ["sh"]' -m 'from a tarball' rootfs.tar base:1""",
    "image pull": """\
palletctl image pull alpine:3.20
palletctl image pull --platform linux/arm64 localhost:5000/app:1
palletctl image pull -a localhost:5000/app""",
    "image push": """\
palletctl image push localhost:5000/app:1
palletctl image push -a localhost:5000/app""",
    # -- container -----------------------------------------------------------------
    "container": """\
palletctl container ls -a
palletctl container update --memory 256m web
palletctl container port web
palletctl container prune -f""",
    "container ls": """\
palletctl container ls
palletctl container ls -a -f status=exited
palletctl container ls -q --no-trunc""",
    "container update": """\
palletctl container update --memory 512m --memory-swap 1g web
palletctl container update --cpus 1.5 --pids-limit 200 web
palletctl container update --restart unless-stopped web db""",
    "container port": """\
palletctl container port web
palletctl container port web 443/tcp""",
    "container prune": """\
palletctl container prune
palletctl container prune -f --filter until=1h""",
    # -- system --------------------------------------------------------------------
    "system": """\
palletctl system df
palletctl system info
palletctl system prune -a --volumes""",
    "system df": """\
palletctl system df
palletctl system df -v""",
    "system prune": """\
palletctl system prune
palletctl system prune -a --volumes -f
palletctl system prune --filter until=24h""",
    "system info": """\
palletctl system info
palletctl system info -f '{{.KernelVersion}}'""",
    "system events": """\
palletctl system events --since 10m
palletctl system events -f type=image
palletctl system events --format '{{.Type}} {{.Action}} {{.ID}}'""",
    # -- volume --------------------------------------------------------------------
    "volume": """\
palletctl volume create data
palletctl volume ls
palletctl volume rm data
palletctl volume prune -f""",
    "volume create": """\
palletctl volume create data
palletctl volume create --label env=prod pgdata
palletctl volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=100m scratch""",
    "volume ls": """\
palletctl volume ls
palletctl volume ls -q
palletctl volume ls -f dangling=true""",
    "volume inspect": """\
palletctl volume inspect data
palletctl volume inspect -f '{{.Mountpoint}}' data""",
    "volume rm": """\
palletctl volume rm data
palletctl volume rm -f data cache""",
    "volume prune": """\
palletctl volume prune
palletctl volume prune -a -f
palletctl volume prune --filter label=env=dev""",
    # -- network -------------------------------------------------------------------
    "network": """\
palletctl network create appnet
palletctl network ls
palletctl network connect appnet web
palletctl network rm appnet""",
    "network create": """\
palletctl network create appnet
palletctl network create --subnet 172.30.0.0/16 --gateway 172.30.0.1 appnet
palletctl network create --internal backend""",
    "network ls": """\
palletctl network ls
palletctl network ls -f driver=bridge
palletctl network ls -q""",
    "network inspect": """\
palletctl network inspect appnet
palletctl network inspect -f '{{json .IPAM.Config}}' appnet""",
    "network rm": """\
palletctl network rm appnet
palletctl network rm -f appnet backend""",
    "network prune": """\
palletctl network prune
palletctl network prune -f --filter until=24h""",
    "network connect": """\
palletctl network connect appnet web
palletctl network connect --alias api --ip 172.30.0.10 appnet web""",
    "network disconnect": """\
palletctl network disconnect appnet web
palletctl network disconnect -f appnet web""",
    # -- cluster -------------------------------------------------------------------
    "node": """\
palletctl node ls
palletctl node inspect --pretty self
palletctl node update --availability drain n2
palletctl node rm n3""",
    "node ls": """\
palletctl node ls
palletctl node ls -f node.label=zone=east
palletctl node ls --format '{{.Name}}: {{.Status}} {{.Availability}}'""",
    "node inspect": """\
palletctl node inspect n1
palletctl node inspect --pretty self
palletctl node inspect -f '{{.Status.State}}' n1 n2""",
    "node update": """\
palletctl node update --availability drain n2
palletctl node update --availability active n2
palletctl node update --label-add zone=east --label-rm old n1""",
    "node rm": """\
palletctl node rm n3
palletctl node rm -f n3""",
    "node ps": """\
palletctl node ps
palletctl node ps n1 n2
palletctl node ps --filter desired-state=running n1""",
    "service": """\
palletctl service create --name web --replicas 3 -p 8080:80 nginx:alpine
palletctl service ls
palletctl service scale web=5
palletctl service rm web""",
    "service create": """\
palletctl service create --name web --replicas 3 -p 8080:80 nginx:alpine
palletctl service create -d --name worker --mode global --constraint node.labels.zone==east busybox sleep 3600
palletctl service create --name api -e MODE=prod --mount type=volume,source=data,target=/data --update-delay 10s app:1
palletctl service create --name job --restart-condition on-failure --restart-max-attempts 3 busybox sh -c 'exit 1'""",
    "service ls": """\
palletctl service ls
palletctl service ls -f name=web
palletctl service ls -q""",
    "service ps": """\
palletctl service ps web
palletctl service ps --filter desired-state=running web
palletctl service ps -q --no-trunc web api""",
    "service inspect": """\
palletctl service inspect web
palletctl service inspect --pretty web
palletctl service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' web""",
    "service logs": """\
palletctl service logs web
palletctl service logs -f --tail 20 web
palletctl service logs -t --no-task-ids web
palletctl service logs --raw 3f2a9c1d7b4e""",
    "service scale": """\
palletctl service scale web=5
palletctl service scale -d web=3 api=2""",
    "service update": """\
palletctl service update --image nginx:1.27 web
palletctl service update --env-add MODE=debug --env-rm OLD web
palletctl service update --publish-add 8443:443 --constraint-add node.labels.zone==east web
palletctl service update --force -d web""",
    "service rollback": """\
palletctl service rollback web
palletctl service rollback -d web""",
    "service rm": """\
palletctl service rm web
palletctl service rm web api""",
    # -- builder -------------------------------------------------------------------
    "builder": """\
palletctl builder build -t app:1 .
palletctl builder prune -f""",
    "builder build": """\
palletctl builder build -t app:1 .
palletctl builder build -f docker/Dockerfile --target prod -t app:prod .
palletctl builder build --no-cache --progress plain .""",
    "builder prune": """\
palletctl builder prune
palletctl builder prune -a -f
palletctl builder prune --filter until=24h""",
    # -- compose -------------------------------------------------------------------
    "compose": """\
palletctl compose up -d
palletctl compose ps
palletctl compose logs -f web
palletctl compose -f compose.yaml -f compose.prod.yaml down""",
    "compose config": """\
palletctl compose config
palletctl compose config --services
palletctl compose -f compose.yaml -f compose.override.yaml config --format json""",
    "compose up": """\
palletctl compose up -d
palletctl compose up --build web
palletctl compose up -d --scale worker=3 --wait
palletctl compose -p shop up --abort-on-container-exit --exit-code-from tests""",
    "compose down": """\
palletctl compose down
palletctl compose down -v --rmi local --remove-orphans
palletctl compose -p shop down -t 5""",
    "compose ps": """\
palletctl compose ps
palletctl compose ps -a
palletctl compose ps -q web
palletctl compose ps --format json""",
    "compose logs": """\
palletctl compose logs
palletctl compose logs -f --tail 50 web
palletctl compose logs -t --no-log-prefix worker""",
    "compose start": """\
palletctl compose start
palletctl compose start web""",
    "compose stop": """\
palletctl compose stop
palletctl compose stop -t 30 db""",
    "compose restart": """\
palletctl compose restart
palletctl compose restart -t 5 web""",
    "compose rm": """\
palletctl compose rm
palletctl compose rm -s -f web
palletctl compose rm -v worker""",
    "compose exec": """\
palletctl compose exec web sh
palletctl compose exec -T db psql -U postgres -c 'select 1'
palletctl compose exec -u root -w /app web ls -la""",
    "compose run": """\
palletctl compose run --rm web python manage.py migrate
palletctl compose run --rm --no-deps -e DEBUG=1 worker sh
palletctl compose run -d --name batch1 worker""",
    "compose pull": """\
palletctl compose pull
palletctl compose pull web db""",
    "compose build": """\
palletctl compose build
palletctl compose build web""",
    "compose push": """\
palletctl compose push
palletctl compose push web""",
    "compose images": """\
palletctl compose images
palletctl compose images web""",
    "compose port": """\
palletctl compose port web 80
palletctl compose port --index 2 web 80
palletctl compose port --protocol udp dns 53""",
    "compose top": """\
palletctl compose top
palletctl compose top web""",
    "compose events": """\
palletctl compose events
palletctl compose events --json web""",
    "compose version": """\
palletctl compose version""",
    # -- context, tls --------------------------------------------------------------
    "context": """\
palletctl context ls
palletctl context create web1 --host tcp://10.0.0.5:2376
palletctl context use web1
palletctl context show""",
    "context show": """\
palletctl context show""",
    "tls": """\
palletctl tls init --out /etc/pallet/tls --hostname web1.example --ip 10.0.0.5
palletctl tls client --ca-dir /etc/pallet/tls --out ~/.pallet --name alice""",
}
# Aliases show the examples of the name they stand for.
EXAMPLES["network list"] = EXAMPLES["network ls"]
EXAMPLES["network remove"] = EXAMPLES["network rm"]
EXAMPLES["node list"] = EXAMPLES["node ls"]
EXAMPLES["node remove"] = EXAMPLES["node rm"]
EXAMPLES["service list"] = EXAMPLES["service ls"]
EXAMPLES["service remove"] = EXAMPLES["service rm"]


def render(text: str) -> str:
    """The epilog for one EXAMPLES entry."""
    return "examples:\n  " + "\n  ".join(text.splitlines())


def apply(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command of parser that shows no examples the ones from EXAMPLES."""
    stack: list[tuple[str, argparse.ArgumentParser]] = [("", parser)]
    while stack:
        prefix, p = stack.pop()
        for action in p._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            seen: set[int] = set()
            for name, sp in action.choices.items():
                if id(sp) in seen:  # an alias sharing the parser of a name already done
                    continue
                seen.add(id(sp))
                path = prefix + name
                stack.append((path + " ", sp))
                text = EXAMPLES.get(path)
                if text is None or (sp.epilog and "examples:" in sp.epilog):
                    continue
                sp.epilog = f"{sp.epilog.rstrip()}\n\n{render(text)}" if sp.epilog else render(text)
                if not issubclass(sp.formatter_class, argparse.RawDescriptionHelpFormatter):
                    sp.formatter_class = argparse.RawDescriptionHelpFormatter
