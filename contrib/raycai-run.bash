# bash completion for raycai-run: options, recipe files (and the installed recipes by name),
# actions after the recipe, and parameter names after --set (asked from the recipe itself).

# The folders holding the recipes raycai-run finds by name: <bin>/../share/raycai/recipes when
# installed, <bin>/recipes in a build tree.
_raycai_run_recipe_dirs() {
  local exe bindir
  exe=$(command -v -- "$1" 2>/dev/null) || return
  bindir=${exe%/*}
  [[ $bindir == "$exe" ]] && bindir=.
  local d
  for d in "$bindir/../share/raycai/recipes" "$bindir/recipes"; do
    [[ -d $d ]] && printf '%s\n' "$d"
  done
}

_raycai_run() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local opts="--set --json --verbose -v --quiet -q --insecure --trust-recipe --purge --sim --list-recipes --version --help -h"
  local actions="up plan status down params suspend resume autostop run submit job logs env"
  local exe=${words[0]:-raycai-run}

  # the recipe and the action given so far (a --set value is not one of them)
  local i w recipe= action= npos=0 skip=
  for ((i = 1; i < cword; i++)); do
    w=${words[i]}
    if [[ -n $skip ]]; then skip=; continue; fi
    case $w in
      --set) skip=1 ;;
      -*) ;;
      *) npos=$((npos + 1)); [[ $npos -eq 1 ]] && recipe=$w; [[ $npos -eq 2 ]] && action=$w ;;
    esac
  done

  if [[ $prev == --set ]]; then
    # a recipe may also come after the --set assignments
    if [[ -z $recipe ]]; then
      for ((i = cword + 1; i < ${#words[@]}; i++)); do
        [[ ${words[i]} == *.lua ]] && { recipe=${words[i]}; break; }
      done
    fi
    if [[ -n $recipe ]]; then
      local names
      # `params` prints PARAMETER TYPE ... under a header; a map takes KEY.ENTRY=VALUE
      names=$("$exe" "$recipe" params 2>/dev/null |
              awk 'NR > 1 && $1 != "" { print $1 ($2 == "map" ? "." : "=") }')
      COMPREPLY=($(compgen -W "$names" -- "$cur"))
      compopt -o nospace 2>/dev/null
    fi
    return
  fi
  # the day-2 actions' own options and words (issue 15)
  case $action in
    submit)
      [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--name --rerun --detach --working-dir --env --cpu --memory --" -- "$cur"))
      return ;;
    run)
      [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--down=always --down=success --down=never --ttl --name --working-dir --env --cpu --memory --" -- "$cur"))
      return ;;
    job)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-f --follow" -- "$cur"))
      elif [[ $npos -eq 2 ]]; then COMPREPLY=($(compgen -W "list status logs stop" -- "$cur")); fi
      return ;;
    logs)
      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "-f --follow --tail --out-dir" -- "$cur"))
      elif [[ $npos -eq 2 ]]; then COMPREPLY=($(compgen -W "setup head worker job" -- "$cur")); fi
      return ;;
    autostop)
      [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--cancel --idle-minutes --down --no-down" -- "$cur"))
      return ;;
    env|suspend) return ;;
  esac
  if [[ $npos -ge 1 && $recipe == list ]]; then
    [[ $cur == -* ]] && COMPREPLY=($(compgen -W "--project --all-projects --json" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  if [[ $npos -eq 1 && $recipe == test ]]; then
    COMPREPLY=($(compgen -d -- "$cur"))   # raycai-run test [DIR]
    compopt -o filenames 2>/dev/null
  elif [[ $npos -eq 1 ]]; then
    COMPREPLY=($(compgen -W "$actions" -- "$cur"))
  elif [[ $npos -eq 0 ]]; then
    local IFS=$'\n' d f
    COMPREPLY=($(compgen -f -X '!*.lua' -- "$cur") $(compgen -d -- "$cur") $(compgen -W "test list" -- "$cur"))
    if [[ $cur != */* ]]; then
      for d in $(_raycai_run_recipe_dirs "$exe"); do
        for f in "$d"/*.lua; do
          [[ -f $f ]] || continue
          f=${f##*/}
          [[ $f == "$cur"* && ! -e $f ]] && COMPREPLY+=("$f")
        done
      done
    fi
    compopt -o filenames 2>/dev/null
  fi
}
complete -F _raycai_run raycai-run
