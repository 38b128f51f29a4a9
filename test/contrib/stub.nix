# Just enough of nixpkgs' `lib` and `pkgs` to evaluate the module's option declarations,
# package.nix's arguments and the flake's outputs without nixpkgs (not available offline).
# Options evaluate to their declarations (`default`, `type` as a name); `mkIf` to a marker.
let
  lib = rec {
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption = name: mkOption { default = false; type = types.bool; description = "Whether to enable ${name}."; };
    types = {
      str = "str";
      bool = "bool";
      package = "package";
      path = "path";
      listOf = t: "listOf ${t}";
    };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    optional = condition: value: if condition then [ value ] else [ ];
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    licenses.mit = "mit";
    platforms = { linux = [ "x86_64-linux" ]; darwin = [ "aarch64-darwin" ]; };
  };
  pkgs = {
    formats.toml = { }: {
      type = "toml";
      generate = name: value: "/nix/store/stub-${name}";
    };
    coreutils = "/nix/store/stub-coreutils";
    nodejs_20 = "/nix/store/stub-nodejs";
    makeWrapper = "makeWrapper";
    # callPackage of package.nix: its arguments filled from here, buildNpmPackage returning its input.
    callPackage = path: args: import path ({ inherit lib; inherit (pkgs) nodejs_20 makeWrapper; buildNpmPackage = attrs: attrs; } // args);
  };
in
{
  inherit lib pkgs;
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" "loongarch64-linux" "x86_64-darwin" "aarch64-darwin" ] (system: pkgs);
  };
}
