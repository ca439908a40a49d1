%% Hot code reload and version drift, node side.
%%
%% A reload compiles source text on one node (compile/3), then stages the binaries on every node
%% (prepare/2: one stage process per node and reload, holding code:prepare_loading/1's prepared code and
%% the binary of the version it replaces), loads them when told (commit/1), restores the previous version
%% when told (rollback/1) and exits on finish/1 or after a while without a word. Nothing is loaded before
%% commit, so a reload that fails while staging leaves every node as it was.
%%
%% The binaries Orbit loads are kept in a small store (one per module, newest only) so that a later reload
%% can still roll back to them: code:get_object_code/1 only finds the version on disk.
%%
%% Orbit installs this from source text (no preprocessor: no macros, no includes). Long-lived processes
%% loop through fully qualified calls and wake at least once a second, so a newer agent takes over.
-module(orbit_reload).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([compile/3, has_elixir/0, prepare/2, commit/1, rollback/1, finish/1, loaded_md5s/1, versions/1,
         stage_init/4, stage_loop/1, store_init/1, store_loop/0, store_drop/0]).

%% A stage with no command for this long discards what it prepared (or keeps what it loaded) and exits.
stage_idle_ms() -> 120000.

%%% Compiling ------------------------------------------------------------------------------------------

%% Compiles Source (a binary) as the file File (a binary path, used for messages, the debug info and
%% module_info(compile)). Kind is elixir or erlang. Nothing is loaded.
%% -> {ok, [{Module, Binary, Md5}], Warnings} | {error, Errors, Warnings},
%%    where each error or warning is {File, Line, Message} (binaries, Line 0 when unknown).
compile(erlang, Source, File) when is_binary(Source), is_binary(File) ->
    compile_erlang(Source, File);
compile(elixir, Source, File) when is_binary(Source), is_binary(File) ->
    case has_elixir() of
        true -> compile_elixir(Source, File);
        false -> {error, [{File, 0, iolist_to_binary(["Elixir is not available on ", atom_to_list(node())])}], []}
    end.

has_elixir() ->
    case code:ensure_loaded('Elixir.Code') of
        {module, _} -> true;
        _ -> false
    end.

compile_erlang(Source, File) ->
    Path = binary_to_list(File),
    Dir = filename:join(tmp_root(), "orbit_reload_" ++ integer_to_list(erlang:unique_integer([positive]))),
    Tmp = filename:join(Dir, filename:basename(Path)),
    try
        ok = file:make_dir(Dir),
        ok = file:write_file(Tmp, Source),
        SrcDir = filename:dirname(Path),
        Includes = [SrcDir, filename:join(SrcDir, "include"), filename:join(filename:dirname(SrcDir), "include")],
        case epp:parse_file(Tmp, [{includes, Includes}, {source_name, Path}]) of
            {ok, Forms} ->
                Opts = [binary, return_errors, return_warnings, debug_info, {source, Path}],
                case compile:forms(Forms, Opts) of
                    {ok, Mod, Bin, Warnings} ->
                        {ok, [{Mod, Bin, md5_of(Bin)}], erl_diags(Warnings, File, Tmp)};
                    {error, Errors, Warnings} ->
                        {error, erl_diags(Errors, File, Tmp), erl_diags(Warnings, File, Tmp)}
                end;
            {error, Reason} ->
                {error, [{File, 0, text(file:format_error(Reason))}], []}
        end
    catch
        Class:Why ->
            {error, [{File, 0, text(io_lib:format("~p: ~p", [Class, Why]))}], []}
    after
        _ = file:delete(Tmp),
        _ = file:del_dir(Dir)
    end.

tmp_root() ->
    case os:getenv("TMPDIR") of
        false -> "/tmp";
        "" -> "/tmp";
        D -> D
    end.

%% [{FileName, [{Location, Module, Descriptor}]}] -> [{File, Line, Message}]
erl_diags(PerFile, File, Tmp) ->
    [{diag_file(F, File, Tmp), loc_line(Loc), text(format_desc(M, Desc))}
     || {F, Infos} <- PerFile, {Loc, M, Desc} <- Infos].

diag_file(F, File, Tmp) ->
    case F of
        Tmp -> File;
        _ when is_list(F) -> unicode:characters_to_binary(F);
        _ -> File
    end.

loc_line(L) when is_integer(L) -> L;
loc_line({L, _C}) when is_integer(L) -> L;
loc_line(_) -> 0.

format_desc(M, Desc) ->
    try M:format_error(Desc)
    catch _:_ -> io_lib:format("~p", [Desc])
    end.

%% Elixir warns "redefining module" whenever a loaded module is compiled again; that is the point of a
%% reload, so the warning is turned off meanwhile (other warnings go to the node's standard error, as
%% Elixir 1.14 cannot hand them back).
compile_elixir(Source, File) ->
    Conflict = 'Elixir.Code':get_compiler_option(ignore_module_conflict),
    try
        'Elixir.Code':put_compiler_option(ignore_module_conflict, true),
        Quoted = 'Elixir.Code':'string_to_quoted!'(Source, [{file, File}]),
        case compile_quoted_unloaded(Quoted, File) of
            [] -> {error, [{File, 0, <<"the file defines no module">>}], []};
            Pairs -> {ok, [{M, B, md5_of(B)} || {M, B} <- Pairs], []}
        end
    catch
        error:E when is_map(E) ->
            {error, [elixir_diag(E, File)], []};
        Class:Reason ->
            {error, [{File, 0, text(io_lib:format("~p: ~p", [Class, Reason]))}], []}
    after
        'Elixir.Code':put_compiler_option(ignore_module_conflict, Conflict)
    end.

%% Code.compile_quoted/2 without loading what it compiles. Up to Elixir 1.18 `@compile {:autoload, false}`
%% is enough; Elixir 1.20 loads every module compiled without a destination whatever that attribute says,
%% unless the compiler has a destination whose force-load flag is off (as Mix's compiler sets it, in the
%% compiling process's dictionary). A probe module tells, once per node, which of the two this Elixir does.
compile_quoted_unloaded(Quoted, File) ->
    case needs_unforced_destination() of
        false -> 'Elixir.Code':compile_quoted(no_autoload(Quoted), File);
        true -> with_unforced_destination(fun() -> 'Elixir.Code':compile_quoted(no_autoload(Quoted), File) end)
    end.

with_unforced_destination(Fun) ->
    Previous = get(elixir_compiler_dest),
    put(elixir_compiler_dest, {unicode:characters_to_binary(tmp_root()), false}),
    try Fun()
    after
        case Previous of
            undefined -> erase(elixir_compiler_dest);
            _ -> put(elixir_compiler_dest, Previous)
        end
    end.

needs_unforced_destination() ->
    case persistent_term:get(orbit_reload_unforced_destination, unknown) of
        unknown ->
            Loads = probe_loads(fun(Q) -> 'Elixir.Code':compile_quoted(no_autoload(Q), <<"orbit_probe.ex">>) end),
            Works = Loads andalso not probe_loads(fun(Q) ->
                with_unforced_destination(fun() -> 'Elixir.Code':compile_quoted(no_autoload(Q), <<"orbit_probe.ex">>) end)
            end),
            %% Where neither way avoids loading, reloads still work (the commit loads the same binary on
            %% every node); only the compiling node runs the new code a moment early.
            persistent_term:put(orbit_reload_unforced_destination, Works),
            Works;
        Known -> Known
    end.

%% Compiles an empty probe module with Compile; true if that loaded it (then it is unloaded again).
probe_loads(Compile) ->
    Mod = 'Elixir.OrbitReloadProbe',
    Quoted = {defmodule, [{line, 1}], [{'__aliases__', [{line, 1}], ['OrbitReloadProbe']}, [{do, nil}]]},
    _ = (catch Compile(Quoted)),
    case code:is_loaded(Mod) of
        false -> false;
        _ ->
            _ = code:purge(Mod),
            _ = code:delete(Mod),
            _ = code:purge(Mod),
            true
    end.

%% Adds `@compile {:autoload, false}` to every defmodule, so that compiling does not load the module on
%% this node: loading is the commit step's business, on every node at once.
no_autoload({defmodule, Meta, [Alias, [{do, Body}]]}) ->
    Attr = {'@', Meta, [{compile, Meta, [{autoload, false}]}]},
    {defmodule, Meta, [Alias, [{do, {'__block__', [], [Attr, no_autoload(Body)]}}]]};
no_autoload(T) when is_tuple(T) ->
    list_to_tuple(no_autoload_list(tuple_to_list(T)));
no_autoload(L) when is_list(L) ->
    no_autoload_list(L);
no_autoload(X) ->
    X.

no_autoload_list([H | T]) -> [no_autoload(H) | no_autoload_list(T)];
no_autoload_list([]) -> [];
no_autoload_list(Tail) -> Tail.

elixir_diag(E, File) ->
    F = case maps:get(file, E, nil) of
            B when is_binary(B) -> B;
            _ -> File
        end,
    Line = case maps:get(line, E, 0) of
               L when is_integer(L) -> L;
               _ -> 0
           end,
    Msg = case maps:get(description, E, nil) of
              D when is_binary(D) -> D;
              _ ->
                  try 'Elixir.Exception':message(E)
                  catch _:_ -> text(io_lib:format("~p", [E]))
                  end
          end,
    {F, Line, Msg}.

text(Chars) ->
    case unicode:characters_to_binary(Chars) of
        B when is_binary(B) -> B;
        _ -> list_to_binary(io_lib:format("~p", [Chars]))
    end.

md5_of(Bin) ->
    case beam_lib:md5(Bin) of
        {ok, {_, Md5}} -> Md5;
        _ -> erlang:md5(Bin)
    end.

%%% Staging, loading, rolling back -------------------------------------------------------------------

%% Mods = [{Module, FileName (string), Binary}], Opts = #{purge => boolean()}.
%% Starts a stage process that checks each module can be loaded here and prepares the loading.
%% -> {ok, StagePid, [Info]} | {error, [{Module, Reason}]}, Info = #{module, md5, previous_md5, rollback,
%%    old_code_procs}; previous_md5 is undefined when the module is not loaded here.
prepare(Mods, Opts) when is_list(Mods), is_map(Opts) ->
    Ref = make_ref(),
    Pid = proc_lib:spawn(orbit_reload, stage_init, [self(), Ref, Mods, Opts]),
    MRef = erlang:monitor(process, Pid),
    receive
        {Ref, Reply} ->
            erlang:demonitor(MRef, [flush]),
            Reply;
        {'DOWN', MRef, process, Pid, Reason} ->
            {error, [{stage, {crashed, Reason}}]}
    end.

%% Loads what the stage prepared.
%% -> {ok, [#{module, md5, old_code_procs, killed}]} | {error, [{Module, Reason}]}
commit(Stage) -> stage_call(Stage, commit).

%% Puts back the versions the stage replaced (only if it loaded them). -> {ok, [{Module, Outcome}]}
rollback(Stage) -> stage_call(Stage, rollback).

%% Ends the stage.
finish(Stage) -> stage_call(Stage, finish).

stage_call(Stage, Request) ->
    MRef = erlang:monitor(process, Stage),
    Stage ! {orbit_reload, self(), MRef, Request},
    receive
        {MRef, Reply} ->
            erlang:demonitor(MRef, [flush]),
            Reply;
        {'DOWN', MRef, process, _, Reason} ->
            {error, [{stage, {gone, Reason}}]}
    end.

stage_init(From, Ref, Mods, Opts) ->
    Purge = maps:get(purge, Opts, false) =:= true,
    ensure_store(),
    Mods1 = [{M, load_path(M, F), Bin} || {M, F, Bin} <- Mods],
    Infos = [module_state(M, Bin) || {M, _, Bin} <- Mods1],
    Blocked = [{M, {old_code_in_use, Procs}} || #{module := M, old_code_procs := Procs} <- Infos, Procs =/= []],
    case {Blocked, Purge} of
        {[_ | _], false} ->
            From ! {Ref, {error, Blocked}};
        _ ->
            case prepare_loading(Mods1) of
                {ok, Prepared, OnLoad} ->
                    Public = [maps:without([previous], I) || I <- Infos],
                    From ! {Ref, {ok, self(), Public}},
                    orbit_reload:stage_loop(#{mods => Mods1, infos => Infos, prepared => Prepared,
                                              on_load => OnLoad, purge => Purge, loaded => false});
                {error, Errors} ->
                    From ! {Ref, {error, Errors}}
            end
    end.

%% The file name code:which/1 will give: the .beam the node loaded the module from, if any, so tools that
%% read it (docs, cover) keep working; else the name Orbit gives.
load_path(M, Given) ->
    case code:is_loaded(M) of
        {file, F} when is_list(F) ->
            case filename:extension(F) of
                ".beam" -> F;
                _ -> Given
            end;
        _ -> Given
    end.

%% Modules with -on_load cannot be prepared; they are loaded with code:load_binary/3 on commit.
prepare_loading(Mods) ->
    Plain = [{M, F, B} || {M, F, B} <- Mods],
    case code:prepare_loading(Plain) of
        {ok, P} ->
            {ok, P, []};
        {error, Errors} ->
            OnLoad = [M || {M, on_load_not_allowed} <- Errors],
            case [E || {_, R} = E <- Errors, R =/= on_load_not_allowed] of
                [] ->
                    Rest = [X || {M, _, _} = X <- Plain, not lists:member(M, OnLoad)],
                    case code:prepare_loading(Rest) of
                        {ok, P} -> {ok, P, [X || {M, _, _} = X <- Plain, lists:member(M, OnLoad)]};
                        {error, E2} -> {error, E2}
                    end;
                Other ->
                    {error, Other}
            end
    end.

%% What this node runs of Module now, and how to get it back.
module_state(M, NewBin) ->
    {PrevMd5, Previous} =
        case code:is_loaded(M) of
            {file, _} ->
                Md5 = erlang:get_module_info(M, md5),
                {Md5, previous_binary(M, Md5)};
            false ->
                {undefined, not_loaded}
        end,
    #{module => M, md5 => md5_of(NewBin), previous_md5 => PrevMd5,
      rollback => Previous =/= unavailable, previous => Previous,
      old_code_procs => old_code_procs(M)}.

%% The binary of the loaded version Md5: from Orbit's store, else from the code path if it matches.
previous_binary(M, Md5) ->
    case catch ets:lookup(orbit_reload_store, M) of
        [{M, Md5, F, Bin}] ->
            {binary, F, Bin};
        _ ->
            case code:get_object_code(M) of
                {M, Bin, Path} ->
                    case md5_of(Bin) of
                        Md5 -> {binary, Path, Bin};
                        _ -> unavailable
                    end;
                error ->
                    unavailable
            end
    end.

old_code_procs(M) ->
    case erlang:check_old_code(M) of
        true -> [P || P <- erlang:processes(), P =/= self(), erlang:check_process_code(P, M)];
        false -> []
    end.

stage_loop(State) ->
    receive
        {orbit_reload, From, Ref, Request} ->
            {Reply, Next} = stage_handle(Request, State),
            From ! {Ref, Reply},
            case Next of
                stop -> ok;
                _ -> orbit_reload:stage_loop(Next)
            end
    after 1000 ->
        Idle = maps:get(idle, State, 0) + 1000,
        case Idle >= stage_idle_ms() of
            true -> ok;
            false -> orbit_reload:stage_loop(State#{idle => Idle})
        end
    end.

stage_handle(commit, #{loaded := false} = S) ->
    case do_commit(S) of
        {ok, Result} -> {{ok, Result}, S#{loaded := true, idle => 0}};
        {error, _} = E -> {E, S#{idle => 0}}
    end;
stage_handle(commit, S) ->
    {{error, [{stage, already_loaded}]}, S};
stage_handle(rollback, #{loaded := true} = S) ->
    {{ok, do_rollback(S)}, S#{loaded := false, idle => 0}};
stage_handle(rollback, S) ->
    {{ok, []}, S};
stage_handle(finish, _S) ->
    {ok, stop};
stage_handle(_Other, S) ->
    {{error, [{stage, unknown_request}]}, S}.

do_commit(#{mods := Mods, prepared := Prepared, on_load := OnLoad, purge := Purge}) ->
    %% An older version still present must go before a new one can be loaded.
    Killed0 = [{M, make_room(M, Purge)} || {M, _, _} <- Mods],
    case [{M, {old_code_in_use, Ps}} || {M, {blocked, Ps}} <- Killed0] of
        [_ | _] = Blocked ->
            {error, Blocked};
        [] ->
            case code:finish_loading(Prepared) of
                ok ->
                    OnLoadErrors = [{M, R} || {M, F, B} <- OnLoad,
                                              R <- [code:load_binary(M, F, B)], element(1, R) =/= module],
                    case OnLoadErrors of
                        [] ->
                            [store_put(M, F, B) || {M, F, B} <- Mods],
                            {ok, [after_load(M, Purge, proplists:get_value(M, Killed0, [])) || {M, _, _} <- Mods]};
                        _ ->
                            {error, OnLoadErrors}
                    end;
                {error, Errors} ->
                    {error, Errors}
            end
    end.

%% Purges the old version of M, if any. A soft purge first; when processes still run it, a hard purge
%% (which kills them) only if Purge. -> KilledPids | {blocked, Pids}
make_room(M, Purge) ->
    case erlang:check_old_code(M) of
        false -> [];
        true ->
            case code:soft_purge(M) of
                true -> [];
                false ->
                    Procs = old_code_procs(M),
                    case Purge of
                        true -> code:purge(M), Procs;
                        false -> {blocked, Procs}
                    end
            end
    end.

%% After loading: the processes still running the version just replaced. Purged (killing them) only when
%% asked; otherwise reported.
after_load(M, Purge, KilledBefore) ->
    Old = old_code_procs(M),
    Killed = case {Old, Purge} of
                 {[], _} -> _ = code:soft_purge(M), [];
                 {_, true} -> code:purge(M), Old;
                 {_, false} -> []
             end,
    #{module => M, md5 => erlang:get_module_info(M, md5),
      old_code_procs => Old -- Killed, killed => KilledBefore ++ Killed}.

do_rollback(#{infos := Infos}) ->
    [{M, restore(M, Previous)} || #{module := M, previous := Previous} <- Infos].

restore(M, {binary, File, Bin}) ->
    Killed = force_room(M),
    case code:load_binary(M, File, Bin) of
        {module, M} ->
            store_put(M, File, Bin),
            {restored, erlang:get_module_info(M, md5), Killed};
        {error, R} ->
            {failed, R}
    end;
restore(M, not_loaded) ->
    Killed = force_room(M),
    _ = code:delete(M),
    _ = code:soft_purge(M),
    catch ets:delete(orbit_reload_store, M),
    {removed, Killed};
restore(_M, unavailable) ->
    {failed, no_previous_binary}.

%% Rolling back must succeed: wait a little for processes to leave the old version, then purge.
force_room(M) -> force_room(M, 10).

force_room(M, Tries) ->
    case erlang:check_old_code(M) andalso not code:soft_purge(M) of
        false -> [];
        true when Tries > 0 ->
            timer:sleep(100),
            force_room(M, Tries - 1);
        true ->
            Procs = old_code_procs(M),
            code:purge(M),
            Procs
    end.

%%% The store of binaries Orbit loaded ----------------------------------------------------------------

ensure_store() ->
    case ets:info(orbit_reload_store, owner) of
        undefined ->
            Ref = make_ref(),
            Pid = proc_lib:spawn(orbit_reload, store_init, [{self(), Ref}]),
            MRef = erlang:monitor(process, Pid),
            receive
                {Ref, ok} -> erlang:demonitor(MRef, [flush]), ok;
                {'DOWN', MRef, process, Pid, _} -> ok
            end;
        _ ->
            ok
    end.

store_init({From, Ref}) ->
    try ets:new(orbit_reload_store, [named_table, public, set]) of
        _ ->
            catch register(orbit_reload_store, self()),
            From ! {Ref, ok},
            orbit_reload:store_loop()
    catch
        error:badarg ->
            From ! {Ref, ok}
    end.

store_loop() ->
    receive
        stop -> ok;
        _ -> orbit_reload:store_loop()
    after 1000 ->
        orbit_reload:store_loop()
    end.

%% Forgets every stored binary.
store_drop() ->
    case whereis(orbit_reload_store) of
        undefined -> ok;
        Pid -> Pid ! stop, ok
    end.

store_put(M, File, Bin) ->
    catch ets:insert(orbit_reload_store, {M, md5_of(Bin), File, Bin}),
    ok.

%%% Versions and drift --------------------------------------------------------------------------------

%% The {Module, Md5} of the loaded modules Filter selects:
%%   all                 every module that is not part of OTP or Elixir, nor Orbit's agent
%%   {prefix, Binary}    modules whose name starts with Binary (e.g. <<"Elixir.Bank.">>)
%%   {app, App}          the modules of App; those not loaded come as {Module, not_loaded}
%% -> {ok, [{Module, Md5 | not_loaded}]} | {error, {unknown_app, App}}
loaded_md5s(all) ->
    Platform = platform_dirs(),
    {ok, [{M, md5(M)} || {M, F} <- code:all_loaded(), not platform(M, F, Platform)]};
loaded_md5s({prefix, P}) when is_binary(P) ->
    Size = byte_size(P),
    {ok, [{M, md5(M)} || {M, _} <- code:all_loaded(),
                                                 case atom_to_binary(M, utf8) of
                                                     <<P:Size/binary, _/binary>> -> true;
                                                     _ -> false
                                                 end]};
loaded_md5s({app, App}) when is_atom(App) ->
    _ = application:load(App),
    case application:get_key(App, modules) of
        {ok, Mods} ->
            {ok, [case code:is_loaded(M) of
                      {file, _} -> {M, md5(M)};
                      false -> {M, not_loaded}
                  end || M <- Mods]};
        undefined ->
            {error, {unknown_app, App}}
    end.

%% For each module: {loaded, Md5, File} | {not_loaded, DiskMd5 | none} (none: not in the code path).
versions(Mods) when is_list(Mods) ->
    [{M, version(M)} || M <- Mods].

%% The version of loaded module M: its md5, except while Orbit's native debugger runs its recompiled
%% build of it (the same code with debug info for breakpoints, orbit_native): the md5 it replaced.
md5(M) ->
    Md5 = erlang:get_module_info(M, md5),
    case catch ets:lookup(orbit_native_mods, M) of
        [{M, Original, Md5}] -> Original;
        _ -> Md5
    end.

version(M) ->
    case code:is_loaded(M) of
        {file, F} ->
            {loaded, md5(M), file_text(F)};
        false ->
            case code:which(M) of
                Path when is_list(Path) ->
                    case beam_lib:md5(Path) of
                        {ok, {_, Md5}} -> {not_loaded, Md5};
                        _ -> {not_loaded, none}
                    end;
                _ ->
                    {not_loaded, none}
            end
    end.

file_text(F) when is_list(F) -> unicode:characters_to_binary(F);
file_text(F) when is_atom(F) -> atom_to_binary(F, utf8);
file_text(_) -> <<>>.

platform_dirs() ->
    Otp = code:root_dir(),
    Elixir = case code:lib_dir(elixir) of
                 {error, _} -> [];
                 Dir -> [filename:dirname(Dir)]
             end,
    [Otp | Elixir].

platform(_M, preloaded, _Dirs) -> true;
platform(_M, "", _Dirs) -> true;
platform(M, F, Dirs) ->
    case atom_to_list(M) of
        "orbit_" ++ _ -> orbit_agent_module(M);
        "elixir_compiler_" ++ _ -> true;
        _ when is_list(F) -> lists:any(fun(D) -> lists:prefix(D ++ "/", F) end, Dirs);
        _ -> false
    end.

orbit_agent_module(M) ->
    lists:keymember(orbit_source_hash, 1, erlang:get_module_info(M, attributes)).
