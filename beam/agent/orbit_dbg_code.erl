%% Which modules come from which files on this node, the lines where the interpreter can stop, and
%% each module's code as this node has it (source_index/1, module_lines/1,2).
-module(orbit_dbg_code).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([loadable/1, abstract_code/1, abstract_code/2, beam_md5/1, line/1, module_lines/1, module_lines/2, module_source/1,
         source_index/1]).

%% Sources and lines

%% [{Module, SourcePath}] for the application modules on this node: those loaded, and those in the code
%% path that are not loaded yet. OTP's and Elixir's own modules are left out. Prefixes: lib dirs to skip.
source_index(SkipPrefixes0) ->
    ElixirRoot = case code:lib_dir(elixir) of
                     D when is_list(D) -> [filename:dirname(D)];
                     _ -> []
                 end,
    Skip = [code:lib_dir() | ElixirRoot ++ [binary_to_list(P) || P <- SkipPrefixes0]],
    Loaded = [{M, F} || {M, F} <- code:all_loaded(), is_list(F), not skipped(F, Skip)],
    LoadedSet = maps:from_list([{M, true} || {M, _} <- Loaded]),
    FromLoaded = [{M, S} || {M, _} <- Loaded, S <- [module_source(M)], S =/= undefined],
    Dirs = [D || D <- code:get_path(), not skipped(D, Skip)],
    FromPath = lists:append([beams_in(D, LoadedSet) || D <- Dirs]),
    lists:usort(FromLoaded ++ FromPath).

%% Of Mods, those this node can load (loaded, or in its code path).
loadable(Mods) ->
    [M || M <- Mods, code:which(M) =/= non_existing].

skipped(Path, Skip) ->
    lists:any(fun(P) -> lists:prefix(P, Path) end, Skip) orelse Path =:= "." orelse Path =:= [].

module_source(M) ->
    try proplists:get_value(source, M:module_info(compile)) of
        undefined -> undefined;
        S -> unicode:characters_to_binary(S)
    catch _:_ -> undefined
    end.

beams_in(Dir, LoadedSet) ->
    case file:list_dir(Dir) of
        {ok, Files} ->
            lists:filtermap(
              fun(F) ->
                      case filename:extension(F) =:= ".beam" andalso
                          not maps:is_key(list_to_atom(filename:basename(F, ".beam")), LoadedSet) of
                          true -> beam_source(filename:join(Dir, F));
                          false -> false
                      end
              end, Files);
        _ -> []
    end.

beam_source(Path) ->
    case beam_lib:chunks(Path, [compile_info]) of
        {ok, {M, [{compile_info, Info}]}} ->
            case proplists:get_value(source, Info) of
                undefined -> false;
                S -> {true, {M, unicode:characters_to_binary(S)}}
            end;
        _ -> false
    end.

%% The lines where the interpreter can stop in Module, its functions with their line spans, and the first
%% line of each clause's body: {ok, #{lines => [Line], functions => [{Name, Arity, FirstLine, LastLine}],
%% clauses => [{Name, Arity, [FirstBodyLine]}], source => Bin}}.
module_lines(Mod) ->
    lines_of(Mod, abstract_code(Mod)).

%% The same, from a binary of Mod that Orbit sends: the project's own build of it, where the node's copy has
%% no debug info (a release strips it by default) and so no lines to read.
module_lines(Mod, Bin) ->
    lines_of(Mod, case beam_lib:chunks(Bin, [abstract_code]) of
                      {ok, {Mod, [{abstract_code, {raw_abstract_v1, Forms}}]}} -> {ok, Forms, Bin};
                      _ -> {error, no_debug_info}
                  end).

lines_of(Mod, Code) ->
    case Code of
        {ok, Forms, _Bin} ->
            Funs = [{N, A, lists:min(Ls), lists:max(Ls)}
                    || {function, Anno, N, A, Cs} <- Forms,
                       line(Anno) > 0,
                       Ls <- [[line(Anno) | [line(element(2, C)) || C <- Cs] ++ [L || L <- body_lines(Cs), L > 0]]]],
            Lines = lists:usort([L || {function, _, _, _, Cs} <- Forms, L <- body_lines(Cs), L > 0]),
            Clauses = [{N, A, [line(element(2, E)) || {clause, _, _, _, [E | _]} <- Cs, is_tuple(E)]}
                       || {function, Anno, N, A, Cs} <- Forms, line(Anno) > 0],
            {ok, #{lines => Lines, functions => Funs, clauses => Clauses, source => module_source(Mod)}};
        {error, _} = E -> E
    end.

beam_md5(Mod) ->
    case code:is_loaded(Mod) of
        {file, _} -> Mod:module_info(md5);
        false -> undefined
    end.

abstract_code(Mod) ->
    case beam_binary(Mod) of
        {ok, Bin} ->
            case beam_lib:chunks(Bin, [abstract_code]) of
                {ok, {_, [{abstract_code, {raw_abstract_v1, Forms}}]}} -> {ok, Forms, Bin};
                {ok, {_, [{abstract_code, no_abstract_code}]}} -> {error, no_debug_info};
                _ -> {error, no_debug_info}
            end;
        E -> E
    end.

%% {ok, Forms, MD5}: the module's abstract code and the md5 of the module as loaded (else of its file);
%% where this node's copy has no debug info (a release strips it), that of Beam, the project's own build
%% of it, if it is the same code (md5). {error, no_beam | no_debug_info}.
abstract_code(Mod, Beam) ->
    case abstract_code(Mod) of
        {ok, Forms, Bin} ->
            {ok, Forms, loaded_md5(Mod, beam_md5_of(Bin))};
        {error, no_debug_info} when is_binary(Beam) ->
            _ = code:ensure_loaded(Mod),
            case {loaded_md5(Mod, undefined), beam_md5_of(Beam)} of
                {MD5, MD5} when MD5 =/= undefined ->
                    case catch beam_lib:chunks(Beam, [abstract_code]) of
                        {ok, {_, [{abstract_code, {raw_abstract_v1, Forms}}]}} -> {ok, Forms, MD5};
                        _ -> {error, no_debug_info}
                    end;
                _ -> {error, no_debug_info}
            end;
        E -> E
    end.

loaded_md5(Mod, Else) ->
    case erlang:module_loaded(Mod) of
        true -> Mod:module_info(md5);
        false -> Else
    end.

beam_md5_of(Bin) ->
    case beam_lib:md5(Bin) of
        {ok, {_, MD5}} -> MD5;
        _ -> undefined
    end.

%% The object code of Mod as this node has it: the file the loaded module came from, else the code path.
beam_binary(Mod) ->
    Path = case code:which(Mod) of
               P when is_list(P) -> P;
               _ -> code:where_is_file(atom_to_list(Mod) ++ ".beam")
           end,
    case is_list(Path) andalso erl_prim_loader:get_file(Path) of
        {ok, Bin, _} -> {ok, Bin};
        _ -> {error, no_beam}
    end.

line(Anno) when is_integer(Anno) -> Anno;
line(Anno) -> try erl_anno:line(Anno) of L when is_integer(L) -> L; _ -> 0 catch _:_ -> 0 end.

%% Lines of every expression the interpreter evaluates as a step: each expression of every body
%% (function, case, receive, if, try, fun and block bodies), as dbg_ieval:seq/3 does.
body_lines(Term) ->
    body_lines([Term], []).

body_lines([], Acc) -> Acc;
body_lines([{clause, _, _, _, Body} = C | Rest], Acc) ->
    body_lines(Body ++ sub(C) ++ Rest, [line(element(2, E)) || E <- Body, is_tuple(E), tuple_size(E) >= 2] ++ Acc);
body_lines([{block, _, Body} | Rest], Acc) ->
    body_lines(Body ++ Rest, [line(element(2, E)) || E <- Body, is_tuple(E), tuple_size(E) >= 2] ++ Acc);
body_lines([{'try', _, Body, Cs1, Cs2, After} | Rest], Acc) ->
    Seq = [line(element(2, E)) || E <- Body ++ After, is_tuple(E), tuple_size(E) >= 2],
    body_lines(Body ++ After ++ Cs1 ++ Cs2 ++ Rest, Seq ++ Acc);
body_lines([{'receive', _, Cs, _T, After} | Rest], Acc) ->
    Seq = [line(element(2, E)) || E <- After, is_tuple(E), tuple_size(E) >= 2],
    body_lines(Cs ++ After ++ Rest, Seq ++ Acc);
body_lines([T | Rest], Acc) when is_tuple(T) ->
    body_lines(sub(T) ++ Rest, Acc);
body_lines([L | Rest], Acc) when is_list(L) ->
    body_lines(L ++ Rest, Acc);
body_lines([_ | Rest], Acc) ->
    body_lines(Rest, Acc).

sub(T) when is_tuple(T) -> [E || E <- tl(tuple_to_list(T)), is_tuple(E) orelse is_list(E)];
sub(_) -> [].

%% ---------------------------------------------------------------------------------------------
