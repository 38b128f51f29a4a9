# sync4loong as a flake: the package (contrib/nixos/package.nix) and the NixOS module
# (contrib/nixos/sync4loong.nix), under the output names of the Go daemon's flake
# (packages.<system>.default and .sync4loong, overlays.default, nixosModules.default).
# No flake.lock is committed: it was written without network access to Nix; the first
# `nix flake lock` creates it.
{
  description = "sync4loong: push local folders to S3-compatible storage through a Redis job queue";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "loongarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = if self ? rev then "git-${builtins.substring 0 7 self.rev}" else "dev";
      package = pkgs: pkgs.callPackage ./contrib/nixos/package.nix {
        inherit version;
        src = self;
      };
    in
    {
      packages = forAllSystems (pkgs: {
        sync4loong = package pkgs;
        default = package pkgs;
      });

      overlays.default = final: prev: { sync4loong = package final; };

      # The module's package defaults to pkgs.sync4loong when the overlay is applied, and
      # to ./contrib/nixos/package.nix built with the system's nixpkgs otherwise.
      nixosModules.default = import ./contrib/nixos/sync4loong.nix;
      nixosModules.sync4loong = self.nixosModules.default;
    };
}
