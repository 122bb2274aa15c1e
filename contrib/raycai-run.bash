# bash completion for raycai-run: actions, options, recipe files and --set parameter names.
_raycai_run() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}
  }
  local opts="--set --json --verbose -v --quiet -q --insecure --purge --version --help -h"
  local actions="up plan status down params"
  if [[ $prev == --set ]]; then
    local recipe w
    for w in "${COMP_WORDS[@]}"; do [[ $w == *.lua ]] && recipe=$w; done
    if [[ -n $recipe ]]; then
      local names
      names=$(raycai-run --json "$recipe" params 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | sed 's/$/=/')
      COMPREPLY=($(compgen -W "$names" -- "$cur"))
      compopt -o nospace 2>/dev/null
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  local w have_recipe=
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do [[ $w == *.lua ]] && have_recipe=1; done
  if [[ -n $have_recipe ]]; then
    COMPREPLY=($(compgen -W "$actions" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -X '!*.lua' -- "$cur") $(compgen -d -- "$cur"))
  fi
}
complete -F _raycai_run raycai-run
