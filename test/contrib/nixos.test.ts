/**
 * The Nix files cannot be built here (no nixpkgs, no binary cache): they are parsed with
 * `nix-instantiate --parse`, and the module's option declarations, package.nix and the
 * flake's outputs are evaluated against a stub of nixpkgs (test/contrib/stub.nix).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../helpers/daemon.js';

const NIX_FILES = ['flake.nix', 'contrib/nixos/sync4loong.nix', 'contrib/nixos/package.nix', 'test/contrib/stub.nix'];

const hasNix = spawnSync('nix-instantiate', ['--version']).status === 0;
const skip = hasNix ? false : 'nix-instantiate is not installed (Debian: apt-get install nix-bin; scripts/ensure-system-deps.sh does)';

function nix(args: string[]) {
  const result = spawnSync('nix-instantiate', args, { encoding: 'utf8', cwd: projectRoot, timeout: 30_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('Nix files', { skip }, () => {
  for (const file of NIX_FILES) {
    it(`${file} parses`, () => {
      const result = nix(['--parse', join(projectRoot, file)]);
      assert.equal(result.code, 0, result.stderr);
    });
  }

  it("the module declares the Go module's options with its defaults, plus ours, and wires user and group", () => {
    const root = JSON.stringify(projectRoot);
    const expression = `
      let
        stub = import (${root} + "/test/contrib/stub.nix");
        module = import (${root} + "/contrib/nixos/sync4loong.nix") {
          inherit (stub) lib pkgs;
          config.services.sync4loong = {
            enable = true; user = "builder"; group = "nixbld2"; mkUser = true; mkGroup = false;
            settings = { }; package = "/nix/store/pkg"; outboxDirs = [ ]; redis.createLocally = false;
          };
        };
        opts = module.options.services.sync4loong;
        outputs = (import (${root} + "/flake.nix")).outputs { self = outputs // { outPath = ${root}; }; nixpkgs = stub.nixpkgs; };
      in {
        options = builtins.mapAttrs (name: o:
          if o ? _type then { inherit (o) type; default = if name == "package" then o.defaultText.text else o.default; }
          else builtins.attrNames o) opts;
        users = builtins.attrNames module.config.content.users.users.content;
        usersCreated = module.config.content.users.users.condition;
        groupsCreated = module.config.content.users.groups.condition;
        serviceUser = module.config.content.systemd.services.sync4loong.serviceConfig.User;
        serviceGroup = module.config.content.systemd.services.sync4loong.serviceConfig.Group;
        defaultPackage = { inherit (opts.package.default) pname npmDepsHash; };
        flakePackages = builtins.attrNames outputs.packages.loongarch64-linux;
        flakePackageVersion = outputs.packages.x86_64-linux.default.version;
        flakeModules = builtins.attrNames outputs.nixosModules;
        overlay = (outputs.overlays.default stub.pkgs { }).sync4loong.pname;
      }`;
    const result = nix(['--eval', '--strict', '--json', '-E', expression]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      options: {
        enable: { type: 'bool', default: false },
        package: { type: 'package', default: 'pkgs.sync4loong or (pkgs.callPackage ./package.nix { })' },
        settings: { type: 'toml', default: {} },
        user: { type: 'str', default: 'sync4loong' },
        group: { type: 'str', default: 'sync4loong' },
        mkUser: { type: 'bool', default: true },
        mkGroup: { type: 'bool', default: true },
        outboxDirs: { type: 'listOf path', default: [] },
        redis: ['createLocally'],
      },
      users: ['builder'],
      usersCreated: true,
      groupsCreated: false,
      serviceUser: 'builder',
      serviceGroup: 'nixbld2',
      defaultPackage: { pname: 'sync4loong', npmDepsHash: 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
      flakePackages: ['default', 'sync4loong'],
      flakePackageVersion: 'dev',
      flakeModules: ['default', 'sync4loong'],
      overlay: 'sync4loong',
    });
  });
});
