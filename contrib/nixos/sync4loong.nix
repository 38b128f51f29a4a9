# A NixOS module for sync4loong (example). Import it and set, for instance:
#
#   services.sync4loong = {
#     enable = true;
#     # package defaults to pkgs.sync4loong (the flake's overlay) or ./package.nix built here
#     settings = {
#       redis.addr = "127.0.0.1:6379";
#       storage.type = "s3";
#       s3 = { endpoint = "https://s3.example.com"; region = "us-east-1"; bucket = "nix4loong"; };
#       s3.secret_key_file = "/run/secrets/sync4loong-s3-secret";
#       s3.access_key_file = "/run/secrets/sync4loong-s3-access";
#       http = { addr = "127.0.0.1:8080"; auth_token_file = "/run/secrets/sync4loong-tokens"; };
#       publish.allowed_roots = [ "/var/cache/nix-outbox" ];
#     };
#     outboxDirs = [ "/var/cache/nix-outbox" ];
#   };
#
# The Go daemon's module options (enable, package, settings, user, group, mkUser, mkGroup)
# work unchanged, with the Go module's defaults; `settings` may be written in the Go
# release's layout (storage.s3, storage.sftp), which the daemon translates at start.
# With the flake: `imports = [ sync4loong.nixosModules.default ];`.
#
# The config lands in /etc/sync4loong/config.toml; `nixos-rebuild switch` reloads the
# daemon (SIGHUP) when only the settings changed, so live keys apply without a restart.
# Keys that need a restart (the [redis], [s3] and [storage] sections, http.addr, ...) are
# then only named in a warning: run `systemctl restart sync4loong` after changing those.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.sync4loong;
  format = pkgs.formats.toml { };
  configFile = format.generate "sync4loong.toml" cfg.settings;
in
{
  options.services.sync4loong = {
    enable = lib.mkEnableOption "sync4loong, which pushes local folders to S3 through a Redis job queue";
    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.sync4loong or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.sync4loong or (pkgs.callPackage ./package.nix { })";
      description = "The sync4loong package (bin/sync4loong).";
    };
    settings = lib.mkOption {
      type = format.type;
      default = { };
      description = "Contents of config.toml; see docs/configuration.md. Keep secrets in *_file keys.";
    };
    user = lib.mkOption {
      type = lib.types.str;
      default = "sync4loong";
      description = "User account under which sync4loong runs.";
    };
    group = lib.mkOption {
      type = lib.types.str;
      default = "sync4loong";
      description = "Group under which sync4loong runs.";
    };
    mkUser = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to create the user account `user`.";
    };
    mkGroup = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to create the group `group`.";
    };
    outboxDirs = lib.mkOption {
      type = lib.types.listOf lib.types.path;
      default = [ ];
      description = "Folders the daemon may read and delete in (delete_after_sync).";
    };
    redis.createLocally = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Run a local Redis with appendonly and noeviction for the queue.";
    };
  };

  config = lib.mkIf cfg.enable {
    services.redis.servers.sync4loong = lib.mkIf cfg.redis.createLocally {
      enable = true;
      port = 6379;
      settings = { appendonly = "yes"; maxmemory-policy = "noeviction"; };
    };
    environment.etc."sync4loong/config.toml".source = configFile;
    users.users = lib.mkIf cfg.mkUser {
      ${cfg.user} = { isSystemUser = true; group = cfg.group; description = "sync4loong daemon user"; };
    };
    users.groups = lib.mkIf cfg.mkGroup { ${cfg.group} = { }; };
    systemd.services.sync4loong = {
      description = "sync4loong";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ] ++ lib.optional cfg.redis.createLocally "redis-sync4loong.service";
      wants = [ "network-online.target" ];
      environment.SYNC4LOONG_CONFIG = "/etc/sync4loong/config.toml";
      # A new config reloads instead of restarting (see the note at the top).
      reloadTriggers = [ configFile ];
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/sync4loong daemon";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        User = cfg.user;
        Group = cfg.group;
        Restart = "on-failure";
        TimeoutStopSec = 90;
        ProtectSystem = "strict";
        ReadWritePaths = cfg.outboxDirs;
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        LockPersonality = true;
        UMask = "0077";
      };
    };
  };
}
